"""The execute-api gateway: routing, API keys, throttling, MOCK, AWS_PROXY, gateway responses,
deployments. Every API here is built with boto3 against the running local cloud. Tests that run a
function (a worker process) are marked slow; MOCK-only ones are not."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from localcloud_helpers import CORS_HEADERS, http

INTERNAL_ERROR = b'{"message": "Internal server error"}'
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
FORBIDDEN = b'{"message":"Forbidden"}'
TOO_MANY = b'{"message":"Too Many Requests"}'


@pytest.fixture(scope="module")
def env(kit):
    fns = SimpleNamespace(
        echo=kit.function("app.echo", env={"GREETING": "hello"}),
        boom=kit.function("app.boom"),
        garbage=kit.function("app.garbage"),
        not_object=kit.function("app.not_an_object"),
        crash=kit.function("app.crash"),
        sleepy=kit.function("app.sleepy", timeout=1),
        slow=kit.function("app.sleepy", timeout=5),
        no_permission=kit.function("app.echo", permission=False),
    )
    api = kit.api("main")
    echo = fns.echo["FunctionArn"]
    api.proxy("/echo", "GET", echo, key=True)
    api.mock("/echo", "OPTIONS", CORS_HEADERS)
    api.proxy("/open", "GET", echo)
    api.proxy("/open", "POST", echo)
    api.proxy("/open/{id}", "ANY", echo)
    api.proxy("/open/special", "GET", echo)
    api.proxy("/greedy/{proxy+}", "ANY", echo)
    api.proxy("/boom", "GET", fns.boom["FunctionArn"])
    api.proxy("/garbage", "GET", fns.garbage["FunctionArn"])
    api.proxy("/not-object", "GET", fns.not_object["FunctionArn"])
    api.proxy("/crash", "GET", fns.crash["FunctionArn"])
    api.proxy("/sleepy", "GET", fns.sleepy["FunctionArn"])
    api.proxy("/slow", "GET", fns.slow["FunctionArn"], timeout_ms=1000)
    api.proxy("/no-permission", "GET", fns.no_permission["FunctionArn"])
    api.gateway_response("DEFAULT_4XX", {"Access-Control-Allow-Origin": "*"})
    api.gateway_response("DEFAULT_5XX", {"Access-Control-Allow-Origin": "*"})
    api.deploy("test", variables={"color": "blue"})

    other = kit.api("other")
    other.mock("/x", "GET", {}, key=True)
    other.apigw.put_gateway_response(
        restApiId=other.id,
        responseType="MISSING_AUTHENTICATION_TOKEN",
        statusCode="404",
        responseParameters={"gatewayresponse.header.X-Why": "'no route'"},
        responseTemplates={"application/json": '{"error": $context.error.messageString}'},
    )
    other.deploy("test")

    keys = SimpleNamespace(
        good=api.key(),
        disabled=api.key(enabled=False),
        unattached=api.key(attach=False),
        other_api=other.key(),
    )
    return SimpleNamespace(api=api, other=other, fns=fns, keys=keys)


def records(cloud, fn):
    return cloud.invocations(fn["FunctionName"])


@pytest.mark.slow  # runs a function in a worker process
def test_proxy_event_has_the_rest_api_payload_format_1_0(cloud, env):
    response = http(env.api.url("/open/abc?x=1&x=2&y=z"), headers={"X-Custom": "v"})

    assert response.status == 200
    assert response.headers["X-Handler"] == "echo"
    assert response.headers.get_all("X-Multi") == ["a", "b"]
    assert response.headers["Content-Type"] == "application/json"
    payload = response.json()
    event = payload["event"]
    assert event["resource"] == "/open/{id}"
    assert event["path"] == "/open/abc"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["X-Custom"] == "v"
    assert event["multiValueHeaders"]["X-Custom"] == ["v"]
    assert event["queryStringParameters"] == {"x": "2", "y": "z"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["z"]}
    assert event["pathParameters"] == {"id": "abc"}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == response.headers["x-amzn-RequestId"]
    assert context["stage"] == "test"
    assert context["resourcePath"] == "/open/{id}"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/test/open/abc"
    assert context["apiId"] == env.api.id
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["apiKey"] is None

    # The function ran with its own settings and with AWS variables that point at the local cloud.
    assert payload["context"]["function_name"] == env.fns.echo["FunctionName"]
    assert payload["context"]["memory_limit_in_mb"] == "128"
    assert 0 < payload["context"]["remaining"] <= 3000
    fn_env = payload["env"]
    assert fn_env["GREETING"] == "hello"
    assert fn_env["AWS_ENDPOINT_URL"] == cloud.endpoint_url
    assert fn_env["AWS_REGION"] == fn_env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert fn_env["AWS_LAMBDA_FUNCTION_NAME"] == env.fns.echo["FunctionName"]
    assert fn_env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert fn_env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert fn_env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{env.fns.echo['FunctionName']}"
    assert fn_env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert fn_env["_HANDLER"] == "app.echo"
    assert fn_env["LAMBDA_TASK_ROOT"] == payload["sys_path0"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} <= set(fn_env)


@pytest.mark.slow  # runs a function in a worker process
def test_post_body_reaches_the_function(env):
    response = http(
        env.api.url("/open"),
        method="POST",
        body=b'{"name": "x"}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status == 200
    event = response.json()["event"]
    assert event["body"] == '{"name": "x"}'
    assert event["resource"] == "/open"
    assert event["pathParameters"] is None


@pytest.mark.slow  # runs a function in a worker process
def test_literal_segments_win_and_greedy_paths_match(env):
    special = http(env.api.url("/open/special")).json()["event"]
    assert special["resource"] == "/open/special"
    assert special["pathParameters"] is None

    greedy = http(env.api.url("/greedy/a/b/c"), method="DELETE").json()["event"]
    assert greedy["resource"] == "/greedy/{proxy+}"
    assert greedy["pathParameters"] == {"proxy": "a/b/c"}
    assert greedy["httpMethod"] == "DELETE"


@pytest.mark.slow  # runs a function in a worker process
def test_api_key_is_enforced_live_from_usage_plans(env):
    url = env.api.url("/echo")
    for headers in (
        {},
        {"x-api-key": "not-a-key-at-all-but-long-enough"},
        {"x-api-key": env.keys.disabled["value"]},
        {"x-api-key": env.keys.unattached["value"]},
        {"x-api-key": env.keys.other_api["value"]},
    ):
        response = http(url, headers=headers)
        assert (response.status, response.body) == (403, FORBIDDEN), headers
        assert response.headers["Access-Control-Allow-Origin"] == "*"  # DEFAULT_4XX

    response = http(url, headers={"x-api-key": env.keys.good["value"]})
    assert response.status == 200
    identity = response.json()["event"]["requestContext"]["identity"]
    assert identity["apiKey"] == env.keys.good["value"]
    assert identity["apiKeyId"] == env.keys.good["id"]

    # Keys are not deployment-scoped: disabling one takes effect at once.
    env.api.apigw.update_api_key(
        apiKey=env.keys.good["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
    )
    try:
        assert http(url, headers={"x-api-key": env.keys.good["value"]}).status == 403
    finally:
        env.api.apigw.update_api_key(
            apiKey=env.keys.good["id"],
            patchOperations=[{"op": "replace", "path": "/enabled", "value": "true"}],
        )


@pytest.mark.heavy
def test_the_other_api_key_works_on_its_own_api(env):
    response = http(env.other.url("/x"), headers={"x-api-key": env.keys.other_api["value"]})
    assert response.status == 200
    assert http(env.other.url("/x"), headers={"x-api-key": env.keys.good["value"]}).status == 403


def test_unknown_routes_answer_missing_authentication_token(cloud, env):
    for url, method in (
        (env.api.url("/nope"), "GET"),
        (env.api.url("/open/special"), "DELETE"),  # no such method
    ):
        response = http(url, method=method)
        assert (response.status, response.body) == (403, MISSING_TOKEN), url
        # The deployment's DEFAULT_4XX gateway response decorates the gateway's own error.
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    # No stage means no deployment, hence no gateway responses: the plain default answer.
    for url in (env.api.url("/open", stage="nostage"), cloud.stage_url("nosuchapi", "test", "/open")):
        response = http(url)
        assert (response.status, response.body) == (403, MISSING_TOKEN), url
        assert response.headers["Access-Control-Allow-Origin"] is None


def test_a_specific_gateway_response_overrides_status_headers_and_body(env):
    response = http(env.other.url("/nope"))

    assert response.status == 404
    assert response.headers["X-Why"] == "no route"
    assert response.json() == {"error": "Missing Authentication Token"}


def test_mock_options_answers_the_cors_preflight(env):
    response = http(env.api.url("/echo"), method="OPTIONS", headers={"Origin": "https://example.com"})

    assert response.status == 200
    for name, value in CORS_HEADERS.items():
        assert response.headers[name] == value
    assert response.body == b""


@pytest.mark.slow  # runs a function in a worker process
@pytest.mark.parametrize("path", ["/boom", "/garbage", "/not-object"])
def test_function_error_or_malformed_answer_gives_502(cloud, env, path):
    response = http(env.api.url(path))

    assert (response.status, response.body) == (502, INTERNAL_ERROR)
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # DEFAULT_5XX


@pytest.mark.slow  # runs a function in a worker process
def test_raise_is_recorded_as_a_function_error(cloud, env):
    http(env.api.url("/boom"))
    last = records(cloud, env.fns.boom)[-1]
    assert last["status"] == "error"
    assert last["error_type"] == "ValueError"
    assert any("ValueError: boom" in line for line in last["log"])


@pytest.mark.slow  # runs a function in a worker process
def test_a_crashing_worker_gives_502_and_is_replaced(cloud, env):
    first = http(env.api.url("/crash"))
    assert (first.status, first.body) == (502, INTERNAL_ERROR)
    assert http(env.api.url("/open/still-up")).status == 200
    second = http(env.api.url("/crash"))
    assert second.status == 502

    crashes = records(cloud, env.fns.crash)[-2:]
    assert [r["status"] for r in crashes] == ["crash", "crash"]
    assert [r["error_type"] for r in crashes] == ["Runtime.ExitError"] * 2
    assert crashes[0]["worker_pid"] != crashes[1]["worker_pid"]
    assert all(r["cold"] for r in crashes)


@pytest.mark.slow  # runs a function in a worker process
def test_function_timeout_gives_502_and_a_fresh_worker(cloud, env):
    # The function's own timeout (1 s) is shorter than the integration's (29 s): Lambda answers
    # with a "Task timed out" function error, which API Gateway turns into a 502, as on AWS.
    started = time.monotonic()
    response = http(env.api.url("/sleepy?s=5"))
    elapsed = time.monotonic() - started

    assert (response.status, response.body) == (502, INTERNAL_ERROR)
    assert elapsed < 3
    timed_out = records(cloud, env.fns.sleepy)[-1]
    assert timed_out["status"] == "timeout"
    assert any("Task timed out after 1.00 seconds" in line for line in timed_out["log"])

    again = http(env.api.url("/sleepy?s=0"))
    assert again.status == 200
    assert records(cloud, env.fns.sleepy)[-1]["cold"] is True


@pytest.mark.slow  # runs a function in a worker process
def test_integration_timeout_gives_504(cloud, env):
    # The integration's timeoutInMillis (1 s) is shorter than the function's run (2 s of its 5 s).
    started = time.monotonic()
    response = http(env.api.url("/slow?s=2"))

    assert (response.status, response.body) == (504, b'{"message": "Endpoint request timed out"}')
    assert time.monotonic() - started < 1.9
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_missing_lambda_permission_gives_500(cloud, env):
    response = http(env.api.url("/no-permission"))

    assert (response.status, response.body) == (500, INTERNAL_ERROR)
    assert records(cloud, env.fns.no_permission) == []


@pytest.mark.heavy
def test_stage_throttling_answers_429_beyond_the_burst(kit):
    api = kit.api("throttled")
    api.mock("/m", "GET", {"X-Mock": "yes"})
    api.deploy("test")
    api.apigw.update_stage(
        restApiId=api.id,
        stageName="test",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "2"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
        ],
    )

    statuses = [http(api.url("/m")) for _ in range(3)]

    assert [r.status for r in statuses] == [200, 200, 429]
    assert statuses[0].headers["X-Mock"] == "yes"
    assert statuses[2].body == TOO_MANY
    time.sleep(0.6)
    assert http(api.url("/m")).status == 200


def test_usage_plan_throttle_is_per_key(kit):
    api = kit.api("plan-throttled")
    api.mock("/m", "GET", {}, key=True)
    api.deploy("test")
    first = api.key(throttle={"rateLimit": 2.0, "burstLimit": 2})
    second = api.key(throttle={"rateLimit": 2.0, "burstLimit": 2})

    statuses = [http(api.url("/m"), headers={"x-api-key": first["value"]}).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert http(api.url("/m"), headers={"x-api-key": second["value"]}).status == 200


def test_usage_plan_quota_answers_limit_exceeded(kit):
    api = kit.api("plan-quota")
    api.mock("/m", "GET", {}, key=True)
    api.deploy("test")
    key = api.key(quota={"limit": 2, "period": "DAY"})

    responses = [http(api.url("/m"), headers={"x-api-key": key["value"]}) for _ in range(3)]

    assert [r.status for r in responses] == [200, 200, 429]
    assert responses[2].body == b'{"message":"Limit Exceeded"}'


def test_a_stage_serves_its_deployment_until_redeployed(kit):
    api = kit.api("deployments")
    api.mock("/v", "GET", {"X-Version": "one"})
    api.deploy("test")
    assert http(api.url("/v")).headers["X-Version"] == "one"

    # Change the integration response and add a route: not live until a deployment captures them
    # AND the stage points at it.
    api.set_mock_response("/v", "GET", {"X-Version": "two"})
    api.mock("/new", "GET", {})
    assert http(api.url("/v")).headers["X-Version"] == "one"
    assert http(api.url("/new")).status == 403

    deployment = api.deploy("test", move_stage=False)
    assert http(api.url("/v")).headers["X-Version"] == "one"

    api.apigw.update_stage(
        restApiId=api.id,
        stageName="test",
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
    )
    assert http(api.url("/v")).headers["X-Version"] == "two"
    assert http(api.url("/new")).status == 200


@pytest.mark.slow  # runs a function in a worker process
def test_invocations_are_served_as_json(cloud, env):
    http(env.api.url("/open/for-records"))
    response = http(
        f"{cloud.endpoint_url}/_localcloud/invocations?function={env.fns.echo['FunctionName']}&limit=1"
    )

    assert response.status == 200
    (record,) = response.json()["invocations"]
    assert record["function_name"] == env.fns.echo["FunctionName"]
    assert record["source"] == "apigateway"
    assert record["status"] == "ok"
    assert isinstance(record["duration_ms"], float)
    assert json.dumps(record)
