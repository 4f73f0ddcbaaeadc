"""Every answer the local cloud makes itself is JSON, every bad input a 4xx that says what is allowed,
and nothing a client sends makes the server log a traceback.

The HTTP-level cases follow the HTTP RFCs (API Gateway documents nothing about malformed requests);
the bodies take API Gateway's error shape, ``{"message": "..."}``
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html).
moto's own AWS responses keep their AWS protocol formats."""

from __future__ import annotations

import logging

import pytest
from localcloud_helpers import http, raw_http

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=host, Signature=x"
)


def _assert_json_error(response, status: int) -> str:
    assert response.status == status, response
    assert response.headers["content-type"] == "application/json"
    message = response.json()["message"]
    assert isinstance(message, str) and message
    return message


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GET /_localcloud/health now HTTP/1.1\r\nHost: x\r\n\r\n", id="raw-space-in-path"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", id="garbage-bytes"),
        pytest.param(b"\xff\xfe\xfd\r\n\r\n", id="garbage-word"),
        pytest.param(b"\r\n\r\n", id="empty-request"),
        pytest.param(b"GET / HTTP/x.y\r\n\r\n", id="bad-version"),
    ],
)
def test_a_malformed_request_line_gets_a_json_400_and_no_traceback(cloud, capfd, caplog, request_bytes):
    """probe: a raw space in the request line (also garbage bytes, an empty request, just "\\r\\n\\r\\n")
    closed the connection with no answer and logged an AttributeError from the request logger.

    RFC 9112 section 3 (https://www.rfc-editor.org/rfc/rfc9112#section-3): "Recipients of an invalid
    request-line SHOULD respond with either a 400 (Bad Request) error or a 301 (Moved Permanently)
    redirect with the request-target properly encoded"."""
    response = raw_http(cloud, request_bytes)

    message = _assert_json_error(response, 400)
    assert "request line is METHOD SP request-target SP HTTP/1.1" in message
    assert "%20" in message
    err = capfd.readouterr().err
    assert "Traceback" not in err and "AttributeError" not in err
    assert not any(r.exc_info for r in caplog.records)


def test_a_request_line_over_64_kib_gets_a_json_414(cloud, capfd):
    """probe: a request line over 64 KiB closed the connection with no answer (AttributeError).

    RFC 9110 section 15.5.15 (https://www.rfc-editor.org/rfc/rfc9110#section-15.5.15): 414 URI Too Long."""
    response = raw_http(cloud, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    assert "at most 65536 bytes" in _assert_json_error(response, 414)
    assert "Traceback" not in capfd.readouterr().err


def test_an_unsupported_http_version_gets_a_json_505(cloud, capfd):
    """probe: "GET / HTTP/2.0" closed the connection with no answer (AttributeError).

    RFC 9110 section 15.6.6 (https://www.rfc-editor.org/rfc/rfc9110#section-15.6.6): 505 HTTP Version
    Not Supported."""
    response = raw_http(cloud, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")

    assert "HTTP/1.0 and HTTP/1.1" in _assert_json_error(response, 505)
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"X-Big: " + b"a" * 70_000 + b"\r\n", id="header-line-over-64-kib"),
        pytest.param(b"".join(b"X-H%d: v\r\n" % i for i in range(150)), id="over-100-headers"),
    ],
)
def test_oversized_headers_get_a_json_431(cloud, headers):
    """probe: oversized headers got werkzeug's (http.server's) 431 HTML page.

    RFC 6585 section 5 (https://www.rfc-editor.org/rfc/rfc6585#section-5): 431 Request Header Fields
    Too Large."""
    response = raw_http(cloud, b"GET /_localcloud/health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")

    message = _assert_json_error(response, 431)
    assert "at most 65536 bytes" in message and "at most 100 header fields" in message


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "1.5", "1001", "99999999999999999999"])
def test_a_bad_invocations_limit_is_a_400_saying_what_is_allowed(cloud, limit):
    """probe: /_localcloud/invocations?limit=abc returned a 500 HTML page.

    The local cloud's own endpoint (no AWS page models it): ``limit`` is a positive integer up to
    the number of records kept (``max_records``, 1000 here)."""
    response = http(f"{cloud.endpoint_url}/_localcloud/invocations?limit={limit}")

    assert response.status == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["message"].startswith("limit: a positive integer up to 1000")


def test_a_good_invocations_limit_still_works(cloud):
    response = http(f"{cloud.endpoint_url}/_localcloud/invocations?limit=1")

    assert response.status == 200
    assert len(response.json()["invocations"]) <= 1


def test_a_wrong_method_on_an_admin_endpoint_is_a_json_405_with_allow(cloud):
    """probe: GET /_localcloud/reset answered 404 "no such endpoint", though the endpoint exists.

    RFC 9110 section 15.5.6 (https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6): 405 with an
    Allow header listing the methods the resource takes."""
    response = http(f"{cloud.endpoint_url}/_localcloud/reset")

    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert response.json() == {"message": "GET is not allowed on /_localcloud/reset; allowed: POST"}


def test_an_unknown_admin_endpoint_is_a_json_404(cloud):
    response = http(f"{cloud.endpoint_url}/_localcloud/nope")

    assert response.status == 404
    assert response.json()["message"].startswith("no such localcloud endpoint: /_localcloud/nope")


def test_an_unexpected_admin_failure_is_a_json_500(cloud, monkeypatch, caplog):
    """probe: an exception in an admin route gave werkzeug's 500 HTML page.

    An unexpected failure is a bug: it is logged with its traceback, and the client gets JSON."""
    caplog.set_level(logging.ERROR, logger="localcloud")

    def broken() -> list:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cloud, "workers", broken)
    response = http(f"{cloud.endpoint_url}/_localcloud/workers")

    assert response.status == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": "Internal server error: RuntimeError: kaboom"}
    assert any(r.exc_info for r in caplog.records)


def test_an_unknown_url_of_a_moto_service_is_a_json_404(cloud):
    """probe: an unknown URL signed for a service (here Lambda) got werkzeug's 404 HTML page.

    That page is Flask's, not an AWS protocol answer, so it becomes JSON."""
    response = http(f"{cloud.endpoint_url}/nope", headers={"Authorization": SIGNED.format(service="lambda")})

    assert response.status == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["message"].startswith("Not Found:")


def test_an_exception_escaping_moto_is_a_json_500(cloud):
    """probe: a GET / signed for DynamoDB made moto raise (KeyError) and the client got werkzeug's
    500 HTML page."""
    response = http(f"{cloud.endpoint_url}/", headers={"Authorization": SIGNED.format(service="dynamodb")})

    assert response.status == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["message"].startswith("Internal server error: KeyError")


def test_a_moto_gap_is_a_json_501_logged_in_one_line(cloud, caplog, capfd):
    """probe: a request moto does not implement (PATCH on an S3 bucket path) gave werkzeug's 500 HTML
    page and a traceback.

    RFC 9110 section 15.6.2 (https://www.rfc-editor.org/rfc/rfc9110#section-15.6.2): 501 Not
    Implemented. It is a known gap of moto, not a bug of the local cloud: one warning line."""
    caplog.set_level(logging.INFO, logger="localcloud")
    response = http(f"{cloud.endpoint_url}/some-bucket", method="PATCH", body=b"")

    assert response.status == 501
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["message"].startswith("Not implemented by the local cloud (moto): ")
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err


def test_moto_aws_errors_keep_their_aws_format(cloud):
    """S3 errors are XML on AWS (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html);
    the JSON rule is for the local cloud's own answers, not for the AWS protocols moto speaks."""
    response = http(f"{cloud.endpoint_url}/no-such-bucket-{id(cloud)}")

    assert response.status == 404
    assert response.headers["Content-Type"] == "application/xml"
    assert b"<Code>NoSuchBucket</Code>" in response.body
