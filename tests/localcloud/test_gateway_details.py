"""The gateway's details that a function or a client can tell apart from API Gateway's: header casing
and repeated fields in the proxy event, binary media types both ways, per-method stage throttling, and
the ids API Gateway answers with. Each test names the AWS page it follows. Tests that run a function
(a worker process) are marked slow; MOCK-only ones are not."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from types import SimpleNamespace

import pytest
from localcloud_helpers import build_zip, http, raw_http

PNG = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary"

SOURCE = f"""
import base64
import json

PNG = {PNG!r}


def echo(event, context):
    return {{"statusCode": 200, "headers": {{"Content-Type": "application/json"}}, "body": json.dumps(event)}}


def png(event, context):
    return {{
        "statusCode": 200,
        "headers": {{"Content-Type": "image/png"}},
        "body": base64.b64encode(PNG).decode("ascii"),
        "isBase64Encoded": True,
    }}
"""

TRACE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


@pytest.fixture(scope="module")
def env(kit):
    code = build_zip(SOURCE)
    echo = kit.function("app.echo", code=code)
    png = kit.function("app.png", code=code)
    api = kit.api("details", binary_media_types=["image/png", "application/octet-stream"])
    api.proxy("/echo", "ANY", echo["FunctionArn"])
    api.proxy("/png", "GET", png["FunctionArn"])
    api.deploy("test")
    return SimpleNamespace(api=api, echo=echo, png=png)


def _raw_get(kit, api, path: str, header_lines: list[str]):
    url = urllib.parse.urlsplit(api.url(path))
    target = url.path + (f"?{url.query}" if url.query else "")
    head = [f"GET {target} HTTP/1.1", f"Host: {url.netloc}", "Connection: close", *header_lines]
    return raw_http(kit.cloud, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))


@pytest.mark.slow  # runs a function in a worker process
def test_headers_keep_their_casing_and_repeated_fields_last_value_and_all_values(kit, env):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    ("Support for multi-value headers and query string parameters"): a header or query parameter sent
    more than once has its last value in ``headers`` / ``queryStringParameters`` and all its values,
    in order, in ``multiValueHeaders`` / ``multiValueQueryStringParameters``; names are as sent."""
    response = _raw_get(
        kit,
        env.api,
        "/echo?tag=a&tag=b&Mixed=1",
        ["x-lower-case: one", "X-Repeated: first", "X-Repeated: second", "X-CamelCase-Name: v"],
    )

    assert response.status == 200, response.body
    event = response.json()
    assert event["headers"]["x-lower-case"] == "one"
    assert event["headers"]["X-CamelCase-Name"] == "v"
    assert "X-Lower-Case" not in event["headers"]
    assert event["headers"]["X-Repeated"] == "second"
    assert event["multiValueHeaders"]["X-Repeated"] == ["first", "second"]
    assert event["multiValueHeaders"]["x-lower-case"] == ["one"]
    assert event["queryStringParameters"] == {"tag": "b", "Mixed": "1"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "Mixed": ["1"]}
    # The gateway's own X-Forwarded-* headers are added, not duplicated in another casing.
    assert event["headers"]["X-Forwarded-Proto"] == "http"


@pytest.mark.slow  # runs a function in a worker process
def test_a_binary_request_body_reaches_the_function_base64_encoded(env):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html:
    with a Lambda proxy integration, a request whose Content-Type matches one of the API's
    binaryMediaTypes reaches the function base64-encoded with ``isBase64Encoded`` true; other bodies
    arrive as text."""
    binary = http(
        env.api.url("/echo"), method="POST", body=PNG, headers={"Content-Type": "application/octet-stream"}
    )
    text = http(env.api.url("/echo"), method="POST", body=b"plain", headers={"Content-Type": "text/plain"})

    assert binary.status == 200
    event = binary.json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == PNG
    assert text.json()["isBase64Encoded"] is False
    assert text.json()["body"] == "plain"


@pytest.mark.slow  # runs a function in a worker process
def test_a_base64_answer_is_decoded_only_when_the_first_accept_type_is_binary(env):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html
    and lambda-proxy-binary-media.html: "API Gateway uses the first Accept header from clients to
    determine if a response should return binary media". A function's ``isBase64Encoded`` answer is
    decoded when that media type matches the API's binaryMediaTypes; otherwise the client gets the
    base64 text as it is."""
    decoded = http(env.api.url("/png"), headers={"Accept": "image/png"})
    first_is_text = http(env.api.url("/png"), headers={"Accept": "text/html, image/png"})
    anything = http(env.api.url("/png"), headers={"Accept": "*/*"})

    assert (decoded.status, decoded.body) == (200, PNG)
    assert decoded.headers["Content-Type"] == "image/png"
    assert first_is_text.body == base64.b64encode(PNG)
    assert anything.body == base64.b64encode(PNG)


def test_stage_throttling_for_all_methods_is_a_bucket_per_method(kit):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html:
    "Per-API, per-stage throttling limits are applied at the API method level for a stage." The
    ``*/*`` setting gives every method its own bucket with the stage's rate and burst; a method's own
    setting overrides it for that method."""
    api = kit.api("per-method")
    api.mock("/a", "GET", {})
    api.mock("/a", "POST", {})
    api.mock("/b", "GET", {})
    api.mock("/c", "GET", {})
    api.deploy("test")
    api.apigw.update_stage(
        restApiId=api.id,
        stageName="test",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.01"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
            {"op": "replace", "path": "/~1c/GET/throttling/rateLimit", "value": "0.01"},
            {"op": "replace", "path": "/~1c/GET/throttling/burstLimit", "value": "3"},
        ],
    )

    assert [http(api.url("/a")).status for _ in range(2)] == [200, 429]
    # Other methods, on the same resource or another, still have their whole burst.
    assert [http(api.url("/a"), method="POST").status for _ in range(2)] == [200, 429]
    assert [http(api.url("/b")).status for _ in range(2)] == [200, 429]
    # The method-level setting: a burst of 3 for GET /c.
    assert [http(api.url("/c")).status for _ in range(4)] == [200, 200, 200, 429]


def test_usage_plan_and_stage_throttling_both_apply(kit):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html
    ("How throttling limit settings are applied"): a client's usage-plan limit and the stage's
    per-method limit both hold; a request passes only when neither is exhausted."""
    api = kit.api("plan-and-stage")
    api.mock("/a", "GET", {}, key=True)
    api.mock("/b", "GET", {}, key=True)
    api.deploy("test")
    key = api.key(throttle={"rateLimit": 0.01, "burstLimit": 3})
    api.apigw.update_stage(
        restApiId=api.id,
        stageName="test",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.01"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
        ],
    )
    headers = {"x-api-key": key["value"]}

    assert [http(api.url("/a"), headers=headers).status for _ in range(2)] == [200, 429]  # stage, GET /a
    assert http(api.url("/b"), headers=headers).status == 200  # GET /b has its own stage bucket
    assert http(api.url("/b"), headers=headers).status == 429  # the key's plan burst of 3 is spent


def test_answers_carry_a_trace_id_and_the_apigw_id(kit):
    """https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html#xray-concepts-tracingheader
    (a trace id is ``1-<8 hex digits of epoch seconds>-<24 hex digits>``): API Gateway answers with an
    ``X-Amzn-Trace-Id`` and an ``x-amz-apigw-id``, on its own errors as on success."""
    api = kit.api("ids")
    api.mock("/m", "GET", {})
    api.deploy("test")

    ok = http(api.url("/m"))
    missing = http(api.url("/nothing-here"))
    sent = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    propagated = http(api.url("/m"), headers={"X-Amzn-Trace-Id": sent})

    for response in (ok, missing):
        assert TRACE.match(response.headers["X-Amzn-Trace-Id"]), response.headers
        assert response.headers["x-amz-apigw-id"]
    assert ok.headers["x-amz-apigw-id"] != missing.headers["x-amz-apigw-id"]
    assert propagated.headers["X-Amzn-Trace-Id"] == sent


@pytest.mark.slow  # runs a function in a worker process
def test_extended_request_id_is_the_apigw_id_header_and_the_trace_reaches_the_function(env):
    """https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
    (input format: ``requestContext.extendedRequestId``) and api-gateway-mapping-template-reference.html
    ($context.extendedRequestId: "the extended ID that API Gateway generates and assigns to the API
    request", returned in the ``x-amz-apigw-id`` header): the id the function sees is the one the
    client gets; the trace the function sees is the one the answer carries."""
    response = http(env.api.url("/echo"))

    event = response.json()
    assert event["requestContext"]["extendedRequestId"] == response.headers["x-amz-apigw-id"]
    assert event["headers"]["X-Amzn-Trace-Id"] == response.headers["X-Amzn-Trace-Id"]
    assert TRACE.match(response.headers["X-Amzn-Trace-Id"])
    assert json.loads(response.body)["requestContext"]["requestId"] == response.headers["x-amzn-RequestId"]


def test_binary_media_types_are_set_at_creation_and_patched_by_path(kit):
    """https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html (``binaryMediaTypes``)
    and https://docs.aws.amazon.com/apigateway/latest/api/patch-operations.html: a media type is added
    or removed with the path ``/binaryMediaTypes/{type}``, its ``/`` escaped as ``~1`` (moto ignored
    both; ``localcloud.apigateway.fixes``)."""
    api = kit.api("binary-types", binary_media_types=["image/png"])
    assert api.apigw.get_rest_api(restApiId=api.id)["binaryMediaTypes"] == ["image/png"]

    api.apigw.update_rest_api(
        restApiId=api.id,
        patchOperations=[
            {"op": "add", "path": "/binaryMediaTypes/application~1pdf"},
            {"op": "remove", "path": "/binaryMediaTypes/image~1png"},
        ],
    )

    assert api.apigw.get_rest_api(restApiId=api.id)["binaryMediaTypes"] == ["application/pdf"]
