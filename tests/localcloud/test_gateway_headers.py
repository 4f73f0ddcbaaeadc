"""The gateway's limit on a request's header fields: 10,240 bytes for a REST API.

Quotas for REST APIs
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html):
"Total combined size of all header values, including header names, values, any line terminators, and
whitespaces: 10240 Bytes", not adjustable. AWS does not document the answer; clients report
431 and "HTTP header is larger than 10240 bytes." (sources in localcloud/apigateway/headers.py). The
requests are sent raw, so that the header block is exactly the bytes the test counts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from localcloud_helpers import http, raw_http

from localcloud.apigateway.headers import header_bytes

pytestmark = pytest.mark.slow  # the accepted request runs a function in a worker
LIMIT = 10240  # stated here rather than imported from the code under test


@pytest.fixture(scope="module")
def env(kit):
    echo = kit.function("app.version")
    api = kit.api("headers")
    api.proxy("/items", "GET", echo["FunctionArn"])
    api.deploy("test")
    return SimpleNamespace(api=api, echo=echo)


def _request(env: SimpleNamespace, block_size: int) -> bytes:
    """A GET whose header block (each ``Name: value`` and its CRLF) is ``block_size`` bytes."""
    fixed = "Host: localhost\r\nConnection: close\r\n"
    pad = block_size - len(fixed) - len("X-Pad: \r\n")
    block = fixed + f"X-Pad: {'p' * pad}\r\n"
    assert len(block) == block_size
    return f"GET /restapis/{env.api.id}/test/_user_request_/items HTTP/1.1\r\n{block}\r\n".encode()


def _invocations(cloud, fn) -> list:
    url = f"{cloud.endpoint_url}/_localcloud/invocations?function={fn['FunctionName']}"
    return http(url).json()["invocations"]


def test_headers_of_10240_bytes_pass_and_one_byte_more_is_refused_before_the_function_runs(cloud, env):
    at_limit = raw_http(cloud, _request(env, LIMIT), timeout=15)
    assert at_limit.status == 200, at_limit
    assert len(_invocations(cloud, env.echo)) == 1

    over = raw_http(cloud, _request(env, LIMIT + 1))
    assert over.status == 431, over
    assert over.json() == {"message": "HTTP header is larger than 10240 bytes."}
    assert over.headers["content-type"] == "application/json"
    assert over.headers.get("x-amzn-requestid")
    assert len(_invocations(cloud, env.echo)) == 1  # nothing ran


def test_the_count_is_names_values_separators_and_line_ends() -> None:
    """Names and values count, and so do ``: `` and CRLF per field; repeated fields count each time."""
    assert header_bytes([("A", "bc")]) == len("A: bc\r\n")
    assert header_bytes([("Cookie", "x=1"), ("Cookie", "y=2")]) == 2 * len("Cookie: x=1\r\n")
