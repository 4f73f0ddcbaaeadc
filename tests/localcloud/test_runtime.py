"""The Lambda runtime: workers, cold and warm starts, concurrency, code and configuration changes,
logs, the Invoke API and reset."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import APP_SOURCE, build_zip, http

INTERNAL_ERROR = b'{"message": "Internal server error"}'

pytestmark = pytest.mark.slow  # every test here runs functions in worker processes


def _proxy_api(kit, name, fn, path="/f"):
    api = kit.api(name)
    api.proxy(path, "GET", fn["FunctionArn"])
    api.deploy("test")
    return api


def test_first_request_is_cold_and_the_next_is_warm(cloud, kit):
    fn = kit.function("app.version")
    api = _proxy_api(kit, "coldwarm", fn)

    first = http(api.url("/f"))
    second = http(api.url("/f"))

    assert first.status == second.status == 200
    assert first.json()["pid"] == second.json()["pid"]
    cold, warm = cloud.invocations(fn["FunctionName"])
    assert (cold["cold"], warm["cold"]) == (True, False)
    assert cold["init_ms"] is not None and warm["init_ms"] is None
    assert warm["total_ms"] < cold["total_ms"]
    assert cold["code_sha256"] == fn["CodeSha256"]
    assert cold["worker_pid"] == warm["worker_pid"]
    assert cold["status"] == warm["status"] == "ok"


def test_reserved_concurrency_zero_throttles(cloud, kit):
    # Lambda answers 429 TooManyRequestsException; through a proxy integration API Gateway turns
    # that into 500 {"message": "Internal server error"}.
    fn = kit.function("app.version")
    api = _proxy_api(kit, "reserved0", fn)
    lam = kit.client("lambda")
    lam.put_function_concurrency(FunctionName=fn["FunctionName"], ReservedConcurrentExecutions=0)

    response = http(api.url("/f"))
    assert (response.status, response.body) == (500, INTERNAL_ERROR)
    assert cloud.invocations(fn["FunctionName"])[-1]["status"] == "throttled"
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429

    lam.delete_function_concurrency(FunctionName=fn["FunctionName"])
    assert http(api.url("/f")).status == 200


def test_reserved_concurrency_caps_concurrent_invocations(cloud, kit):
    fn = kit.function("app.sleepy", timeout=3)
    api = _proxy_api(kit, "reserved1", fn)
    kit.client("lambda").put_function_concurrency(
        FunctionName=fn["FunctionName"], ReservedConcurrentExecutions=1
    )
    http(api.url("/f?s=0"))  # warm one worker, so both requests below race for the only slot

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(http(api.url("/f?s=0.6")).status)) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [200, 500]
    statuses = [r["status"] for r in cloud.invocations(fn["FunctionName"])[-2:]]
    assert sorted(statuses) == ["ok", "throttled"]


def test_new_code_starts_new_workers(cloud, kit):
    fn = kit.function("app.version")
    api = _proxy_api(kit, "newcode", fn)
    before = http(api.url("/f")).json()
    assert before["version"] == "v1"

    new_zip = build_zip(APP_SOURCE.replace('VERSION = "v1"', 'VERSION = "v2"'))
    updated = kit.client("lambda").update_function_code(FunctionName=fn["FunctionName"], ZipFile=new_zip)
    after = http(api.url("/f")).json()

    assert after["version"] == "v2"
    assert after["pid"] != before["pid"]
    last = cloud.invocations(fn["FunctionName"])[-1]
    assert last["cold"] is True
    assert last["code_sha256"] == updated["CodeSha256"] != fn["CodeSha256"]
    assert before["pid"] not in {w["pid"] for w in cloud.workers()}


def test_new_configuration_starts_new_workers(cloud, kit):
    fn = kit.function("app.version", env={"GREETING": "one"})
    api = _proxy_api(kit, "newconfig", fn)
    before = http(api.url("/f")).json()

    kit.client("lambda").update_function_configuration(
        FunctionName=fn["FunctionName"], Environment={"Variables": {"GREETING": "two"}}
    )
    after = http(api.url("/f")).json()

    assert (before["greeting"], after["greeting"]) == ("one", "two")
    assert after["pid"] != before["pid"]


def test_function_logs_reach_its_log_group(cloud, kit):
    fn = kit.function("app.direct", role=kit.logging_role_arn)
    group = f"/aws/lambda/{fn['FunctionName']}"
    logs = kit.client("logs")
    logs.create_log_group(logGroupName=group)

    kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b'{"hello": "logs"}')

    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert any(m.startswith("START RequestId:") for m in messages)
    assert 'direct invoke {"hello": "logs"}' in messages
    assert any(m.startswith("REPORT RequestId:") for m in messages)


def test_invoke_api_runs_the_function(cloud, kit):
    fn = kit.function("app.direct")
    lam = kit.client("lambda")

    response = lam.invoke(FunctionName=fn["FunctionName"], Payload=b'{"a": 1}', LogType="Tail")

    payload = json.loads(response["Payload"].read())
    assert payload["got"] == {"a": 1}
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert "direct invoke" in base64.b64decode(response["LogResult"]).decode()
    assert cloud.invocations(fn["FunctionName"])[-1]["source"] == "invoke"


def test_a_function_using_boto3_reaches_the_local_cloud(kit):
    table = f"items-{kit.suffix}"
    ddb = kit.client("dynamodb")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # The function's calls are authorized against its role (localcloud/iam/enforcement.py).
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    allow = {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": arn}
    kit.client("iam").put_role_policy(
        RoleName=kit.role_arn.rsplit("/", 1)[-1],
        PolicyName=f"put-{table}",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    fn = kit.function("app.ddb_put", env={"TABLE": table}, timeout=10)

    response = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b'{"id": "one"}')

    assert json.loads(response["Payload"].read()) == {"ok": True}, response.get("FunctionError")
    item = ddb.get_item(TableName=table, Key={"id": {"S": "one"}})["Item"]
    assert item["by"] == {"S": fn["FunctionName"]}


def test_invoke_api_reports_function_errors(kit):
    fn = kit.function("app.boom")

    response = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom"


def test_a_handler_that_cannot_be_imported_is_an_init_error(cloud, kit):
    fn = kit.function("missing_module.handler")

    response = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Runtime.ImportModuleError"
    assert cloud.invocations(fn["FunctionName"])[-1]["error_type"] == "Runtime.ImportModuleError"


@pytest.mark.parametrize(
    ("source", "error_type", "trace"),
    [
        # The runtime raises these itself: no frame at all (its log: "Traceback (most recent call last):").
        (
            "import not_vendored\n\ndef handler(event, context):\n    return 1\n",
            "Runtime.ImportModuleError",
            [],
        ),
        ("x = 1\n", "Runtime.HandlerNotFound", []),
        # A syntax error: the offending line of the function's file.
        ("def handler(event, context)\n    return 1\n", "Runtime.UserCodeSyntaxError", ["app.py"]),
        # An exception while the module runs: the import machinery's frames and the function's own.
        ("def boom():\n    raise ValueError('at import')\n\nboom()\n", "ValueError", ["app.py", "app.py"]),
    ],
)
def test_init_errors_show_the_functions_frames_not_the_runtimes(cloud, kit, source, error_type, trace):
    """Issue 22 case: `Runtime.ImportModuleError` stack traces included the emulator's own frames (its
    worker.py). Lambda's Python runtime reports an import or handler error with an empty stackTrace, a
    syntax error with the offending line, and other errors under their own type with the frames after
    its bootstrap's
    (https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html, and the runtime interface
    client it documents at https://docs.aws.amazon.com/lambda/latest/dg/python-image.html)."""
    fn = kit.function("app.handler", code=build_zip(source), permission=False, role=kit.logging_role_arn)

    response = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")

    error = json.loads(response["Payload"].read())
    assert error["errorType"] == error_type
    shown = "\n".join(error["stackTrace"])
    assert "worker.py" not in shown
    files = [line.split('"')[1] for line in error["stackTrace"] if line.lstrip().startswith('File "')]
    assert all(f.endswith("app.py") or "importlib" in f for f in files), files
    assert [f for f in trace if f in shown] == trace
    assert shown.count('File "') >= len(trace)
    if not trace:
        assert error["stackTrace"] == []
    group, logs, log = f"/aws/lambda/{fn['FunctionName']}", kit.client("logs"), ""
    deadline = time.monotonic() + 10  # the log reader thread writes the lines shortly after the answer
    while time.monotonic() < deadline and "Traceback" not in log:
        time.sleep(0.1)
        if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
            log = "\n".join(e["message"] for e in logs.filter_log_events(logGroupName=group)["events"])
    assert f"[ERROR] {error_type}: " in log and "Traceback (most recent call last):" in log
    assert "worker.py" not in log


def test_an_alias_named_by_a_stage_variable_runs_its_version(cloud, kit):
    lam = kit.client("lambda")
    fn = kit.function("app.version")
    published = lam.publish_version(FunctionName=fn["FunctionName"])
    lam.create_alias(FunctionName=fn["FunctionName"], Name="live", FunctionVersion=published["Version"])
    kit.permission(fn["FunctionName"], "live")
    lam.update_function_code(
        FunctionName=fn["FunctionName"],
        ZipFile=build_zip(APP_SOURCE.replace('VERSION = "v1"', 'VERSION = "v2"')),
    )
    api = kit.api("alias")
    api.proxy("/f", "GET", fn["FunctionArn"] + ":${stageVariables.alias}")
    api.deploy("test", variables={"alias": "live"})

    assert http(api.url("/f")).json()["version"] == "v1"  # version 1, not the newer $LATEST
    last = cloud.invocations(fn["FunctionName"])[-1]
    assert last["version"] == published["Version"]
    assert last["function_arn"].endswith(f"{fn['FunctionName']}:live")


def test_invoke_api_of_an_unknown_function_is_moto_404(kit):
    with pytest.raises(ClientError) as raised:
        kit.client("lambda").invoke(FunctionName="no-such-function", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_reset_stops_every_worker(cloud, kit):
    # Last test of the module: it wipes moto's state for everybody in this process.
    fn = kit.function("app.version")
    kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert cloud.workers()

    response = http(f"{cloud.endpoint_url}/moto-api/reset", method="POST")

    assert response.status == 200
    assert cloud.workers() == []
    assert kit.client("lambda").list_functions()["Functions"] == []
