"""The execute-api gateway and the request body: API Gateway's 10 MB payload quota, read without
holding more than the limit, and a body that never arrives whole.

The sockets are raw where no HTTP client would do what the test needs (send a Content-Length and no
body, stream a chunked body and stop before its end, hang up half-way)."""

from __future__ import annotations

import io
import logging
import socket
import time
from types import SimpleNamespace

import pytest
from localcloud_helpers import http, parse_raw_response, raw_http, read_until_closed
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from localcloud.apigateway.request_body import PayloadTooLarge, read_body

MEBIBYTE = 1024 * 1024
# The REST API quota "Payload size: 10 MB", stated here rather than imported from the code under test.
MAX_PAYLOAD_BYTES = 10 * MEBIBYTE
TOO_LONG = {"message": "Request Too Long"}


@pytest.fixture(scope="module")
def env(kit):
    echo = kit.function("app.echo")
    api = kit.api("payload")
    api.proxy("/upload", "POST", echo["FunctionArn"])
    api.mock("/mock", "POST", {"X-Mock": "yes"})
    api.gateway_response("DEFAULT_4XX", {"Access-Control-Allow-Origin": "*"})
    api.deploy("test")
    return SimpleNamespace(api=api, echo=echo)


def _stage_path(env: SimpleNamespace, path: str) -> str:
    return f"/restapis/{env.api.id}/test/_user_request_{path}"


def _invocations(cloud, fn) -> list:
    """The function's invocation records, as the admin endpoint serves them."""
    url = f"{cloud.endpoint_url}/_localcloud/invocations?function={fn['FunctionName']}"
    return http(url).json()["invocations"]


def test_a_declared_content_length_over_10_mb_is_refused_before_the_body_is_read(cloud, env):
    """probe: a Content-Length over 10 MB was read in full and forwarded to the function.

    API Gateway's REST API quota "Payload size: 10 MB"
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html) answers 413, the
    REQUEST_TOO_LARGE gateway response, which falls back to DEFAULT_4XX
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
    Only the headers are sent: an answer proves the gateway refused without waiting for the body."""
    request = (
        f"POST {_stage_path(env, '/upload')} HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_PAYLOAD_BYTES + 1}\r\n\r\n"
    ).encode()

    response = raw_http(cloud, request)

    assert response.status == 413, response
    assert response.json() == TOO_LONG
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"  # DEFAULT_4XX, like other errors
    assert _invocations(cloud, env.echo) == []


def test_a_body_just_over_10_mb_sent_in_full_gets_413_and_the_function_never_runs(cloud, env):
    """probe: a body of 10 MB + 1 byte was forwarded and the function invoked.

    REST API "Payload size: 10 MB" (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html),
    REQUEST_TOO_LARGE 413
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
    The client sends it all, as a real one does, and still reads the 413."""
    response = http(
        env.api.url("/upload"),
        method="POST",
        body=b"x" * (MAX_PAYLOAD_BYTES + 1),
        headers={"Content-Type": "application/octet-stream"},
    )

    assert (response.status, response.json()) == (413, TOO_LONG)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert _invocations(cloud, env.echo) == []


def test_a_chunked_body_over_10_mb_is_refused_without_waiting_for_its_end(cloud, env):
    """probe: a chunked body was read to its end however large, all of it held in memory.

    REST API "Payload size: 10 MB" (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
    The client streams 10 MB + 1 byte and never sends the last chunk: the gateway answers 413 once it
    has read one byte over the limit."""
    head = (
        f"POST {_stage_path(env, '/upload')} HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with socket.create_connection((cloud.host, cloud.port), timeout=5) as sock:
        sock.sendall(head)
        for _ in range(MAX_PAYLOAD_BYTES // MEBIBYTE):
            sock.sendall(b"%x\r\n" % MEBIBYTE + b"x" * MEBIBYTE + b"\r\n")
        sock.sendall(b"1\r\nx\r\n")  # one byte over; the final zero-length chunk never comes
        response = parse_raw_response(read_until_closed(sock))

    assert response.status == 413, response
    assert response.json() == TOO_LONG
    assert _invocations(cloud, env.echo) == []


def test_a_body_of_exactly_10_mb_is_accepted(env):
    """The limit is inclusive: REST API "Payload size: 10 MB"
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html)."""
    response = http(env.api.url("/mock"), method="POST", body=b"x" * MAX_PAYLOAD_BYTES)

    assert response.status == 200
    assert response.headers["X-Mock"] == "yes"


def test_reading_an_endless_body_stops_one_byte_past_the_limit():
    """Never hold more than the limit: of a body without end (chunked, no Content-Length), the
    gateway reads the limit plus one byte, enough to know it is too large, and nothing more."""

    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            buffer[:] = b"x" * len(buffer)
            self.served += len(buffer)
            return len(buffer)

    stream = Endless()
    environ = EnvironBuilder(method="POST", headers={"Transfer-Encoding": "chunked"}).get_environ()
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})

    with pytest.raises(PayloadTooLarge):
        read_body(Request(environ), limit=1000)
    assert stream.served == 1001


def test_a_client_that_hangs_up_mid_body_is_logged_in_one_line_without_a_traceback(cloud, env, caplog, capfd):
    """probe: a client that disconnected mid-body logged a traceback ("gateway failure").

    RFC 9112 section 8 (https://www.rfc-editor.org/rfc/rfc9112#section-8): a server that receives an
    incomplete request "MAY send an error response prior to closing the connection". The gateway
    answers 400 to whoever is left, invokes nothing, and logs one line."""
    caplog.set_level(logging.INFO, logger="localcloud")
    path = _stage_path(env, "/upload")
    head = f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n".encode()
    with socket.create_connection((cloud.host, cloud.port), timeout=5) as sock:
        sock.sendall(head + b"0123456789")  # 10 of the 1000 bytes, then hang up

    lines = _wait_for_log(caplog, "incomplete")
    time.sleep(0.3)  # room for a second line, if one were coming

    about_it = [r for r in caplog.records if path in r.getMessage() or "went away" in r.getMessage()]
    assert [r.getMessage() for r in about_it] == [r.getMessage() for r in lines]
    assert "after 10 of 1000 bytes" in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err
    assert _invocations(cloud, env.echo) == []


def _wait_for_log(caplog, text: str, timeout: float = 5.0) -> list[logging.LogRecord]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in caplog.records if text in r.getMessage()]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}: {[r.getMessage() for r in caplog.records]}")
