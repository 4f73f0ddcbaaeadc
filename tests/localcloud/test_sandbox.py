"""The environment Lambda's sandbox gives a function, as the local cloud's workers reproduce it."""

from __future__ import annotations

import json
import re

import pytest
from localcloud_helpers import build_zip

pytestmark = pytest.mark.slow  # functions run in worker processes

SOURCE = """
import os


def env(event, context):
    return dict(os.environ)
"""
TRACE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$")


def test_the_environment_is_the_one_lambda_defines(kit):
    """Defined runtime environment variables
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-runtime.html): the function,
    version, memory, log group and stream, task root, runtime directory, handler, execution environment,
    time zone, locale and region variables, plus the function's own; ``_X_AMZN_TRACE_ID`` is set for
    each invocation (a new trace per call)."""
    fn = kit.function("app.env", code=build_zip(SOURCE), env={"OWN": "mine"})
    lam = kit.client("lambda")
    first = json.loads(lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")["Payload"].read())
    second = json.loads(lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")["Payload"].read())

    name = fn["FunctionName"]
    assert first["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert first["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert first["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert first["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert re.match(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$", first["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert first["_HANDLER"] == "app.env"
    assert first["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert first["TZ"] == ":UTC"
    assert first["LANG"]
    assert first["AWS_REGION"] == first["AWS_DEFAULT_REGION"] == kit.region
    assert first["LAMBDA_TASK_ROOT"] and first["LAMBDA_RUNTIME_DIR"]
    assert first["OWN"] == "mine"
    assert TRACE.match(first["_X_AMZN_TRACE_ID"]) and TRACE.match(second["_X_AMZN_TRACE_ID"])
    assert first["_X_AMZN_TRACE_ID"] != second["_X_AMZN_TRACE_ID"]
    assert first["AWS_LAMBDA_LOG_STREAM_NAME"] == second["AWS_LAMBDA_LOG_STREAM_NAME"]  # one worker


ISOLATION_SOURCE = """
import importlib
import os
import sys
import tempfile


def probe(event, context):
    found = {}
    for name in ("boto3", "botocore", "django", "moto", "localcloud"):
        try:
            importlib.import_module(name)
            found[name] = True
        except ImportError:
            found[name] = False
    try:
        with open(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "written.txt"), "w") as out:
            out.write("x")
        write = "written"
    except OSError as exc:
        write = f"{exc.errno} {exc.strerror}"
    with tempfile.NamedTemporaryFile(dir=None) as scratch:
        scratch.write(b"ok")
        tmp = os.path.dirname(scratch.name)
    return {"imports": found, "write": write, "tmp": tmp, "tmpdir": os.environ["TMPDIR"],
            "path": sys.path, "flags": [sys.flags.isolated, sys.flags.no_site]}
"""


def test_the_worker_sees_only_its_code_the_runtime_libraries_and_the_standard_library(kit):
    """Lambda's Python dependency search path (https://docs.aws.amazon.com/lambda/latest/dg/
    python-package.html): the function's code first (/var/task), then the runtime's libraries
    (boto3, botocore, ... in /var/runtime), then the standard library; nothing else installed where the
    local cloud runs (Django, moto) is importable, so a package the artifact forgot fails locally with
    Runtime.ImportModuleError as on AWS. The code directory is read-only (EROFS) and /tmp is the
    worker's own writable directory (https://docs.aws.amazon.com/lambda/latest/dg/
    configuration-ephemeral-storage.html)."""
    fn = kit.function("app.probe", code=build_zip(ISOLATION_SOURCE))
    lam = kit.client("lambda")
    answer = lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    seen = json.loads(answer["Payload"].read())
    assert seen["imports"] == {
        "boto3": True,
        "botocore": True,
        "django": False,
        "moto": False,
        "localcloud": False,
    }
    assert seen["write"] == "30 Read-only file system"
    assert seen["tmp"] == seen["tmpdir"]
    assert seen["flags"] == [1, 1]
    runtime_dir = lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")  # same worker, same answer
    assert json.loads(runtime_dir["Payload"].read())["path"] == seen["path"]
    assert not any("site-packages" in p for p in seen["path"])

    missing = kit.function("app.probe", code=build_zip("import django\n\ndef probe(e, c):\n    return 1\n"))
    failed = lam.invoke(FunctionName=missing["FunctionName"], Payload=b"{}")
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'django'" in error["errorMessage"]


VERSIONS_SOURCE = """
import boto3
import botocore
import dateutil
import jmespath
import s3transfer
import six
import urllib3


def versions(event, context):
    table = boto3.resource("dynamodb").Table(event["table"])
    table.put_item(Item={"id": "from-the-runtime-sdk"})
    item = table.get_item(Key={"id": "from-the-runtime-sdk"})["Item"]
    return {"boto3": boto3.__version__, "botocore": botocore.__version__,
            "s3transfer": s3transfer.__version__, "jmespath": jmespath.__version__,
            "python-dateutil": dateutil.__version__, "six": six.__version__,
            "urllib3": urllib3.__version__, "item": item, "boto3_file": boto3.__file__}
"""


def test_the_function_gets_the_sdk_versions_of_the_lambda_runtime_not_the_local_clouds(kit, cloud):
    """Runtime-included SDK versions (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html):
    a function imports the boto3 and botocore that the python3.12 runtime ships (the versions that page
    tells you to print from a function), not whatever the machine running it has installed. The pins
    are localcloud/runtime-requirements.txt; botocore of that version still talks to the local cloud."""
    import boto3 as host_boto3

    from localcloud.lambda_ import sandbox

    pins = sandbox.pinned_versions()
    table = f"sdk-{kit.suffix}"
    cloud.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = cloud.client("dynamodb").describe_table(TableName=table)["Table"]["TableArn"]
    allow = {"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:GetItem"], "Resource": arn}
    kit.client("iam").put_role_policy(
        RoleName=kit.role_arn.rsplit("/", 1)[-1],
        PolicyName=f"sdk-{table}",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    fn = kit.function("app.versions", code=build_zip(VERSIONS_SOURCE), timeout=10)
    payload = json.dumps({"table": table})
    answer = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=payload)
    assert "FunctionError" not in answer, answer["Payload"].read()
    seen = json.loads(answer["Payload"].read())
    assert pins["boto3"] != host_boto3.__version__  # otherwise this test proves nothing
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"):
        assert seen[name] == pins[name], name
    assert seen["boto3_file"].startswith(sandbox.runtime_libraries())
    assert seen["item"] == {"id": "from-the-runtime-sdk"}


def test_missing_runtime_libraries_are_an_error_that_says_how_to_install_them(tmp_path, monkeypatch):
    """No silent fallback to the local cloud's own boto3: that would pass a function needing a newer SDK
    than Lambda's python3.12 runtime has (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html)."""
    from localcloud.lambda_ import sandbox

    monkeypatch.setenv(sandbox.RUNTIME_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(sandbox.RuntimeLibrariesMissing) as caught:
        sandbox.runtime_libraries()
    message = str(caught.value)
    assert "make venv" in message and f"botocore=={sandbox.pinned_versions()['botocore']}" in message
