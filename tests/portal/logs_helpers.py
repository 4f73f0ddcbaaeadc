"""Log lines in an environment's log groups (moto), as the function, the runtime and the stage write
them, for the tests of the logs service, its API and its console pages."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

API_KEY_VALUE = "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa98"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcHMifQ.c2lnbmF0dXJlLXZhbHVlLTEy"
FAILED_ID = "5d7a0c1e-2b3f-4a5b-8c6d-7e8f9a0b1c2d"
FAILED_LAMBDA_ID = "a0b1c2d3-e4f5-4a6b-9c8d-0e1f2a3b4c5d"
STREAM = "2026/12/07/[2]f00dfeed"
TRACE = (
    "Traceback (most recent call last):\n"
    '  File "/var/task/lambda_bundle/handler.py", line 58, in lambda_handler\n'
    '  File "/var/task/lambda_bundle/store.py", line 156, in list_page\n'
    '  File "/var/runtime/botocore/client.py", line 1094, in _make_api_call\n'
    "botocore.errorfactory.ResourceNotFoundException: Requested resource not found\n"
)


def json_line(level: str, message: str, request_id: str, lambda_id: str, **extra: Any) -> str:
    return json.dumps(
        {
            "timestamp": "2026-12-07T10:00:00.000Z",
            "level": level,
            "message": message,
            "logger": "lambda_bundle",
            "requestId": request_id,
            "lambdaRequestId": lambda_id,
            **extra,
        }
    )


def seed(env: Any, *, with_key: bool = True) -> dict[str, Any]:
    """An API key (its value to be redacted), and the function's lines for one failed request and
    one good one, with a line that leaks the key and a bearer token."""
    names = env.spec().names
    if with_key:
        key = boto3.client("apigateway", region_name=env.region).create_api_key(
            name=names.api_key, value=API_KEY_VALUE, enabled=True
        )
        outputs = {**(env.outputs or {}), "api_key_id": key["id"]}
        type(env).objects.filter(pk=env.pk).update(outputs=outputs)
        env.refresh_from_db()
    logs = boto3.client("logs", region_name=env.region)
    group = names.function_log_group
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=STREAM)
    at = int(time.time() * 1000) - 30_000
    lines = [
        f"START RequestId: {FAILED_LAMBDA_ID} Version: 2",
        json_line(
            "ERROR",
            "unhandled error",
            FAILED_ID,
            FAILED_LAMBDA_ID,
            exception=TRACE,
            exception_name="ResourceNotFoundException",
        ),
        json_line("ERROR", "request handled", FAILED_ID, FAILED_LAMBDA_ID, status=500),
        f"END RequestId: {FAILED_LAMBDA_ID}",
        f"REPORT RequestId: {FAILED_LAMBDA_ID}\tDuration: 5.00 ms\tBilled Duration: 5 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 70 MB",
        json_line(
            "INFO", f"debug dump key={API_KEY_VALUE} auth=Bearer {BEARER}", "0" * 8 + "-good", "l-good"
        ),
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName=STREAM,
        logEvents=[{"timestamp": at + i, "message": m} for i, m in enumerate(lines)],
    )
    return {"group": group, "at": at}
