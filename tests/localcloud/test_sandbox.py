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
