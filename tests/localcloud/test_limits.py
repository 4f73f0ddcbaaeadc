"""Lambda's sandbox limits in the local cloud: 6 MB synchronous payloads each way, 1 MB asynchronous,
memory, /tmp, and the reserved environment variable keys. Each test cites the AWS page it follows."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import build_zip, http

from localcloud.lambda_.limits import (
    ASYNC_REQUEST_PAYLOAD_LIMIT,
    REQUEST_PAYLOAD_LIMIT,
    RESPONSE_PAYLOAD_LIMIT,
)

pytestmark = pytest.mark.slow  # functions run in worker processes

SOURCE = """
import json


def size(event, context):
    body = event.get("body") if isinstance(event, dict) else None
    return {"statusCode": 200, "body": json.dumps({"received": len(body or "")})}


def big(event, context):
    n = int((event.get("queryStringParameters") or {}).get("n", event.get("n", 0)))
    return {"statusCode": 200, "body": "x" * n}


def hog(event, context):
    mb = int((event.get("queryStringParameters") or {}).get("mb", event.get("mb", 0)))
    block = bytearray(mb * 1024 * 1024)  # zero-filled: every page is touched
    return {"statusCode": 200, "body": str(len(block))}
"""
BAD_GATEWAY = b'{"message": "Internal server error"}'


def _function(kit, handler):
    return kit.function(handler, code=build_zip(SOURCE), timeout=10)


def _api(kit, fn, verb="GET"):
    api = kit.api(f"limits-{fn['FunctionName']}")
    api.proxy("/f", verb, fn["FunctionArn"])
    api.deploy("test")
    return api


def test_invoke_refuses_a_request_over_6_mb(cloud, kit):
    """Lambda quotas, "Invocation payload (request and response): 6 MB each for synchronous"
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); Invoke's errors
    (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): 413 RequestEntityTooLargeException.
    The function does not run."""
    fn = _function(kit, "app.size")
    lam = kit.client("lambda")
    fits = json.dumps({"body": "a" * (REQUEST_PAYLOAD_LIMIT - 20)}).encode()
    assert len(fits) <= REQUEST_PAYLOAD_LIMIT
    assert lam.invoke(FunctionName=fn["FunctionName"], Payload=fits)["StatusCode"] == 200

    over = json.dumps({"body": "a" * REQUEST_PAYLOAD_LIMIT}).encode()
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=fn["FunctionName"], Payload=over)
    error = raised.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    assert len(cloud.invocations(fn["FunctionName"])) == 1  # only the one that fit ran


def test_an_asynchronous_invocation_over_1_mb_is_refused(cloud, kit):
    """Issue 22 case: InvocationType=Event with a payload over 1 MB was accepted (202). Lambda quotas
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Invocation payload
    (request and response)": "1 MB for asynchronous"): 413 RequestEntityTooLargeException, nothing is
    queued; exactly 1,048,576 bytes is accepted."""
    fn = _function(kit, "app.size")
    lam = kit.client("lambda")
    envelope = len(json.dumps({"body": ""}))
    fits = json.dumps({"body": "a" * (ASYNC_REQUEST_PAYLOAD_LIMIT - envelope)}).encode()
    assert len(fits) == ASYNC_REQUEST_PAYLOAD_LIMIT
    assert (
        lam.invoke(FunctionName=fn["FunctionName"], Payload=fits, InvocationType="Event")["StatusCode"] == 202
    )

    over = json.dumps({"body": "a" * (ASYNC_REQUEST_PAYLOAD_LIMIT - envelope + 1)}).encode()
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=fn["FunctionName"], Payload=over, InvocationType="Event")
    error = raised.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert (
        error["Error"]["Message"]
        == "Request must be smaller than 1048576 bytes for the InvokeFunction operation"
    )
    deadline = time.monotonic() + 5  # the accepted event runs in the background
    while time.monotonic() < deadline and not cloud.invocations(fn["FunctionName"]):
        time.sleep(0.05)
    time.sleep(0.5)
    assert len(cloud.invocations(fn["FunctionName"])) == 1  # only the one that fit ran


def test_the_gateway_answers_413_for_an_event_over_6_mb(cloud, kit):
    """A body under API Gateway's own 10 MB limit
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html) whose proxy event is
    over Lambda's 6 MB request quota (gettingstarted-limits.html): Lambda refuses the invocation and
    the client gets 413 {"message":"Request Too Long"}; the function does not run."""
    fn = _function(kit, "app.size")
    api = _api(kit, fn, "POST")
    small = http(api.url("/f"), method="POST", body=b"a" * 1000)
    assert (small.status, small.json()) == (200, {"received": 1000})

    response = http(api.url("/f"), method="POST", body=b"a" * (7 * 1024 * 1024))
    assert (response.status, response.body) == (413, b'{"message":"Request Too Long"}')
    assert len(cloud.invocations(fn["FunctionName"])) == 1


def test_a_response_over_6_mb_fails_the_invocation(cloud, kit):
    """Lambda quotas (gettingstarted-limits.html): a synchronous response over 6 MB fails with
    Function.ResponseSizeTooLarge, reported as an unhandled function error by Invoke
    (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html) and as 502 by API Gateway's proxy
    integration (https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html)."""
    fn = _function(kit, "app.big")
    lam = kit.client("lambda")
    ok = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"n": RESPONSE_PAYLOAD_LIMIT - 200}))
    assert "FunctionError" not in ok

    answer = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"n": 7 * 1024 * 1024}))
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read()) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    assert cloud.invocations(fn["FunctionName"])[-1]["error_type"] == "Function.ResponseSizeTooLarge"

    api = _api(kit, fn)
    response = http(api.url("/f?n=7340032"))
    assert (response.status, response.body) == (502, BAD_GATEWAY)
    # The environment itself is fine: the next small answer comes from the same worker.
    again = http(api.url("/f?n=10"))
    assert again.status == 200
    records = cloud.invocations(fn["FunctionName"])
    assert records[-1]["worker_pid"] == records[-2]["worker_pid"]


def test_a_function_over_its_memory_size_is_killed(cloud, kit):
    """Lambda memory (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html): a
    function that uses more than its configured memory is stopped; the invocation fails with
    Runtime.OutOfMemory ("Runtime exited with error: signal: killed") and the proxy integration
    answers 502. The record keeps the peak memory, as the REPORT line's "Max Memory Used" does."""
    fn = kit.function("app.hog", code=build_zip(SOURCE), timeout=10, role=kit.logging_role_arn)  # 128 MB
    lam = kit.client("lambda")
    group = f"/aws/lambda/{fn['FunctionName']}"
    kit.client("logs").create_log_group(logGroupName=group)
    fits = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"mb": 16}))
    assert "FunctionError" not in fits
    record = cloud.invocations(fn["FunctionName"])[-1]
    assert 16 <= record["max_memory_mb"] <= 128

    answer = lam.invoke(FunctionName=fn["FunctionName"], Payload=json.dumps({"mb": 300}))
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert error["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    killed = cloud.invocations(fn["FunctionName"])[-1]
    assert (killed["status"], killed["error_type"]) == ("crash", "Runtime.OutOfMemory")
    # The function's log group holds Lambda's own line about it, so a failed check can show it.
    events = kit.client("logs").filter_log_events(logGroupName=group)["events"]
    assert any(
        e["message"].endswith("Runtime exited with error: signal: killed\nRuntime.OutOfMemory")
        for e in events
    )

    api = _api(kit, fn)
    assert http(api.url("/f?mb=300")).status == 502
    # A new environment serves the next invocation.
    after = http(api.url("/f?mb=1"))
    assert after.status == 200
    assert cloud.invocations(fn["FunctionName"])[-1]["worker_pid"] != killed["worker_pid"]


def test_reserved_environment_keys_are_refused(kit):
    """Defined runtime environment variables
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-runtime.html): the reserved
    keys cannot be set in a function's configuration; CreateFunction and UpdateFunctionConfiguration
    answer InvalidParameterValueException and change nothing."""
    lam = kit.client("lambda")
    message = (
        "Lambda was unable to configure your environment variables because the environment variables you "
        "have provided contains reserved keys that are currently not supported for modification. Reserved "
        "keys used in this request: AWS_REGION"
    )
    with pytest.raises(ClientError) as raised:
        kit.function("app.size", env={"AWS_REGION": "eu-west-1", "OWN": "1"}, name="reserved-env-create")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert raised.value.response["Error"]["Message"] == message
    with pytest.raises(ClientError):
        lam.get_function(FunctionName="reserved-env-create")

    fn = kit.function("app.size", env={"OWN": "1"})
    with pytest.raises(ClientError) as raised:
        lam.update_function_configuration(
            FunctionName=fn["FunctionName"], Environment={"Variables": {"AWS_REGION": "x", "OWN": "2"}}
        )
    assert raised.value.response["Error"]["Message"] == message
    config = lam.get_function_configuration(FunctionName=fn["FunctionName"])
    assert config["Environment"]["Variables"] == {"OWN": "1"}


TMP_SOURCE = """
import errno
import os
import tempfile

MB = 1024 * 1024


def write_at(path, offset, mode="wb"):
    # Sparse: seek to the offset and write one byte, so a 512 MB file costs no disk and no time.
    try:
        with open(path, mode) as out:
            out.seek(offset)
            out.write(b"x")
            out.flush()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def fill(event, context):
    tmp = tempfile.gettempdir()
    cap = int(os.environ["CAP_MB"]) * MB
    a, b = os.path.join(tmp, "a.bin"), os.path.join(tmp, "b.bin")
    seen = {
        "whole_cap": write_at(a, cap - 1),        # a holds exactly the cap
        "past_cap": write_at(os.path.join(tmp, "c.bin"), cap),  # one byte more than the cap
        "second_file_when_full": write_at(b, 0),
    }
    os.remove(a)
    seen["after_remove"] = write_at(b, 100 * MB - 1)  # b: 100 MB
    seen["third_file_fits"] = write_at(a, cap - 100 * MB - 1)
    seen["third_file_over"] = write_at(a, cap - 100 * MB)
    os.remove(a)
    os.remove(b)
    return seen


def outcome(write):
    try:
        write()
        return "ok"
    except OSError as exc:
        return f"{errno.errorcode.get(exc.errno, str(exc.errno))} {exc.strerror}"


def raw_write(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)


def temporary():
    with tempfile.NamedTemporaryFile() as out:
        out.write(b"x")
        out.flush()


def every_way(event, context):
    import pathlib

    tmp = tempfile.gettempdir()
    cap = int(os.environ["CAP_MB"]) * MB
    full = os.path.join(tmp, "full.bin")
    write_at(full, cap - 1)
    seen = {
        "text": outcome(lambda: open(os.path.join(tmp, "t.txt"), "w").write("x" * 10000)),
        "pathlib": outcome(lambda: pathlib.Path(tmp, "p.bin").write_bytes(b"x")),
        "os.write": outcome(lambda: raw_write(os.path.join(tmp, "r.bin"))),
        "tempfile": outcome(temporary),
        "append": outcome(lambda: print("x", file=open(full, "a"), flush=True)),
    }
    os.remove(full)
    seen["after_remove"] = outcome(lambda: pathlib.Path(tmp, "p.bin").write_bytes(b"x"))
    return seen
"""


@pytest.mark.parametrize("size_mb", [512, 1024])
def test_tmp_is_capped_at_the_function_ephemeral_storage(kit, size_mb):
    """Ephemeral storage (https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html):
    /tmp holds EphemeralStorage MB, 512 by default (512-10,240, set by UpdateFunctionConfiguration too);
    a write past it fails with OSError. Here the write fails at exactly that byte, counting every file
    under /tmp, with ENOSPC as Lambda's full file system answers (issue 22 case: it was EFBIG). Sparse
    writes keep the test fast: the cap is on file sizes, not on disk blocks."""
    lam = kit.client("lambda")
    fn = kit.function("app.fill", code=build_zip(TMP_SOURCE), env={"CAP_MB": str(size_mb)}, timeout=10)
    if size_mb != 512:
        lam.update_function_configuration(FunctionName=fn["FunctionName"], EphemeralStorage={"Size": size_mb})
    assert lam.get_function_configuration(FunctionName=fn["FunctionName"])["EphemeralStorage"] == {
        "Size": size_mb
    }
    answer = lam.invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {
        "whole_cap": "ok",
        "past_cap": "ENOSPC",
        "second_file_when_full": "ENOSPC",
        "after_remove": "ok",
        "third_file_fits": "ok",
        "third_file_over": "ENOSPC",
    }


def test_a_full_tmp_is_no_space_left_on_device_whatever_writes(kit):
    """Issue 22 case: a /tmp write past EphemeralStorage failed with EFBIG "File too large". Lambda's /tmp is
    a file system of that size, so a write to it when full fails with ENOSPC "No space left on device"
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html): through text
    and binary files, pathlib, os.write, tempfile and an append, at write or at flush."""
    fn = kit.function("app.every_way", code=build_zip(TMP_SOURCE), env={"CAP_MB": "512"}, timeout=10)
    answer = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    full = "ENOSPC No space left on device"
    assert json.loads(answer["Payload"].read()) == {
        "text": full,
        "pathlib": full,
        "os.write": full,
        "tempfile": full,
        "append": full,
        "after_remove": "ok",
    }
