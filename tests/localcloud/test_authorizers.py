"""Lambda TOKEN authorizers on the gateway: the token, the function, its policy, its cache.

Everything is built with boto3 against the running local cloud, as the engine builds it: an
authorizer function, ``create_authorizer`` (TOKEN), methods with ``authorizationType`` CUSTOM, a
deployment. The authorizer function below decides by the token it is given.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from localcloud_helpers import build_zip, http

AUTHORIZER_SOURCE = """
import json


def policy(effect, resource):
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}


def from_secret(event, context):
    import os

    import boto3  # the runtime's, with the function role's credentials

    key = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["SECRET"])["SecretString"]
    if event["authorizationToken"].removeprefix("Bearer ") != key:
        raise Exception("Unauthorized")
    return {"principalId": "holder", "policyDocument": policy("Allow", event["methodArn"])}


def handler(event, context):
    if event["type"] == "REQUEST":
        token = event["queryStringParameters"]["token"]
    else:
        token = event["authorizationToken"].removeprefix("Bearer ")
    arn = event["methodArn"]
    api_arn, stage = arn.split("/")[0], arn.split("/")[1]
    if token == "unauthorized":
        raise Exception("Unauthorized")
    if token == "boom":
        raise ValueError("boom")
    if token == "garbage":
        return {"statusCode": 200, "body": "not a policy"}
    if token == "nested":
        return {"principalId": "p", "policyDocument": policy("Allow", "*"), "context": {"deep": {"a": 1}}}
    if token == "deny":
        document = {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_arn + "/*"},
            {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": arn},
        ]}
        return {"principalId": "denied", "policyDocument": document}
    if token == "elsewhere":
        return {"principalId": "p", "policyDocument": policy("Allow", api_arn + "/other-stage/*")}
    if token.startswith("exact"):
        resource = arn  # this method ARN only: the documented caching pitfall
    else:
        resource = api_arn + "/" + stage + "/*"
    return {
        "principalId": "user-" + token,
        "policyDocument": policy("Allow", resource),
        "context": {"tenant": "t1", "level": 7, "admin": True, "ratio": 0.5,
                    "seenEvent": json.dumps(event, sort_keys=True)},
        "usageIdentifierKey": "ignored-with-header-key-source",
    }
"""

UNAUTHORIZED = b'{"message":"Unauthorized"}'
EXPLICIT_DENY = (
    b'{"Message":"User is not authorized to access this resource with an explicit deny in an '
    b'identity-based policy"}'
)
IMPLICIT_DENY = b'{"Message":"User is not authorized to access this resource"}'
FORBIDDEN = b'{"message":"Forbidden"}'


def _lambda_uri(kit, fn):
    return f"arn:aws:apigateway:{kit.region}:lambda:path/2015-03-31/functions/{fn['FunctionArn']}/invocations"


def _allow_authorizer(kit, api_id, fn):
    kit.client("lambda").add_permission(
        FunctionName=fn["FunctionName"],
        StatementId=f"authorizer-{api_id}",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:{kit.region}:123456789012:{api_id}/authorizers/*",
    )


def _token_authorizer(api, fn, *, ttl, name, expression=None):
    extra = {"identityValidationExpression": expression} if expression else {}
    return api.apigw.create_authorizer(
        restApiId=api.id,
        name=name,
        type="TOKEN",
        authorizerUri=_lambda_uri(api.kit, fn),
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=ttl,
        **extra,
    )["id"]


def _invoker_role(kit, name, function_arn):
    iam = kit.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=f"{name}-{kit.suffix}", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]
    statement = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function_arn}
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="invoke",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    return role["Arn"]


def _protect(api, path, verb, authorizer_id, *, key=False):
    api.apigw.update_method(
        restApiId=api.id,
        resourceId=api.resource(path),
        httpMethod=verb,
        patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
            {"op": "replace", "path": "/authorizerId", "value": authorizer_id},
            {"op": "replace", "path": "/apiKeyRequired", "value": "true" if key else "false"},
        ],
    )


@pytest.fixture(scope="module")
def env(kit):
    authorizer_fn = kit.function(
        "auth.handler", code=build_zip(AUTHORIZER_SOURCE, "auth.py"), permission=False
    )
    cached_fn = kit.function("auth.handler", code=build_zip(AUTHORIZER_SOURCE, "auth.py"), permission=False)
    echo = kit.function("app.echo")["FunctionArn"]
    request_fn = kit.function("auth.handler", code=build_zip(AUTHORIZER_SOURCE, "auth.py"), permission=False)

    api = kit.api("token-auth")
    _allow_authorizer(kit, api.id, authorizer_fn)
    _allow_authorizer(kit, api.id, cached_fn)
    _allow_authorizer(kit, api.id, request_fn)
    uncached = _token_authorizer(api, authorizer_fn, ttl=0, name="uncached", expression=r"Bearer [\w-]+")
    cached = _token_authorizer(api, cached_fn, ttl=300, name="cached")
    for path in ("/items", "/items/{id}", "/keyed"):
        api.proxy(path, "GET", echo)
    api.proxy("/cached/{id}", "GET", echo)
    _protect(api, "/items", "GET", uncached)
    _protect(api, "/items/{id}", "GET", uncached)
    _protect(api, "/keyed", "GET", uncached, key=True)
    _protect(api, "/cached/{id}", "GET", cached)
    request_authorizer = api.apigw.create_authorizer(
        restApiId=api.id,
        name="request",
        type="REQUEST",
        authorizerUri=_lambda_uri(kit, request_fn),
        identitySource="method.request.header.X-Tenant, method.request.querystring.token",
        authorizerResultTtlInSeconds=300,
    )["id"]
    api.proxy("/by-request", "POST", echo)
    _protect(api, "/by-request", "POST", request_authorizer)
    api.gateway_response("UNAUTHORIZED", {"Access-Control-Allow-Origin": "*", "X-Kind": "unauthorized"})
    api.gateway_response("ACCESS_DENIED", {"Access-Control-Allow-Origin": "*", "X-Kind": "access-denied"})
    api.gateway_response("DEFAULT_4XX", {"Access-Control-Allow-Origin": "*"})
    api.deploy("test")
    key = api.key()

    # The same authorizer function, without the permission API Gateway needs to invoke it.
    bare = kit.api("token-auth-no-permission")
    bare_fn = kit.function("auth.handler", code=build_zip(AUTHORIZER_SOURCE, "auth.py"), permission=False)
    bare_authorizer = _token_authorizer(bare, bare_fn, ttl=0, name="bare")
    bare.proxy("/items", "GET", echo)
    _protect(bare, "/items", "GET", bare_authorizer)
    # With authorizerCredentials: a role API Gateway assumes, allowed or not to invoke the function.
    for path, allowed in (("/with-role", True), ("/with-weak-role", False)):
        role_arn = _invoker_role(
            kit, path.strip("/"), bare_fn["FunctionArn"] if allowed else "arn:aws:lambda:*:*:*:nothing"
        )
        with_role = bare.apigw.create_authorizer(
            restApiId=bare.id,
            name=path.strip("/"),
            type="TOKEN",
            authorizerUri=_lambda_uri(kit, bare_fn),
            identitySource="method.request.header.Authorization",
            authorizerCredentials=role_arn,
            authorizerResultTtlInSeconds=0,
        )["id"]
        bare.proxy(path, "GET", echo)
        _protect(bare, path, "GET", with_role)
    bare.deploy("test")
    return SimpleNamespace(
        api=api,
        bare=bare,
        fn=authorizer_fn,
        cached_fn=cached_fn,
        request_fn=request_fn,
        key=key,
        uncached=uncached,
    )


def _calls(cloud, fn):
    return len(cloud.invocations(fn["FunctionName"]))


def _get(url, token=None, **headers):
    if token is not None:
        headers["Authorization"] = token
    return http(url, headers=headers)


# R-AUTH-1
@pytest.mark.slow  # runs the authorizer and the function in worker processes
def test_an_allowed_token_reaches_the_function_with_principal_and_context(cloud, env):
    """A TOKEN authorizer gets the header's token and the method ARN; its Allow lets the request
    through and its principalId and context (values as strings) reach requestContext.authorizer.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html"""
    before = _calls(cloud, env.fn)
    response = _get(env.api.url("/items/42"), "Bearer alice")

    assert response.status == 200, response.body
    authorizer = response.json()["event"]["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user-alice"
    assert {k: authorizer[k] for k in ("tenant", "level", "admin", "ratio")} == {
        "tenant": "t1",
        "level": "7",
        "admin": "true",
        "ratio": "0.5",
    }
    assert isinstance(authorizer["integrationLatency"], int)
    record = cloud.invocations(env.fn["FunctionName"])[-1]
    assert _calls(cloud, env.fn) == before + 1
    assert record["source"] == "apigateway-authorizer"


@pytest.mark.slow
def test_the_authorizer_event_is_the_token_event(env):
    """The event is {"type": "TOKEN", "authorizationToken", "methodArn"}, the ARN with the request's
    own path (not the resource template).
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html"""
    response = _get(env.api.url("/items/7"), "Bearer bob")
    seen = json.loads(response.json()["event"]["requestContext"]["authorizer"]["seenEvent"])
    assert seen == {
        "type": "TOKEN",
        "authorizationToken": "Bearer bob",
        "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:{env.api.id}/test/GET/items/7",
    }


# R-AUTH-1 R-AUTH-2
@pytest.mark.slow
def test_a_missing_or_malformed_token_is_401_without_invoking(cloud, env):
    """No token in the identity source, or one that does not match identityValidationExpression:
    401 {"message":"Unauthorized"} and the authorizer is not called; the UNAUTHORIZED gateway
    response's headers (CORS) are applied.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html
    https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html"""
    before = _calls(cloud, env.fn)
    for token in (None, "", "Basic abc", "Bearer has spaces"):
        response = _get(env.api.url("/items"), token)
        assert response.status == 401, token
        assert response.body == UNAUTHORIZED
        assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["X-Kind"] == "unauthorized"
    assert _calls(cloud, env.fn) == before


@pytest.mark.slow
def test_the_function_answering_unauthorized_is_401_and_other_failures_are_500(cloud, env):
    """The function failing with "Unauthorized" is 401; failing otherwise, or answering something that
    is not a policy, or a context value that is an object, is 500 AuthorizerConfigurationException.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html"""
    response = _get(env.api.url("/items"), "Bearer unauthorized")
    assert (response.status, response.body) == (401, UNAUTHORIZED)
    for token in ("Bearer boom", "Bearer garbage", "Bearer nested"):
        response = _get(env.api.url("/items"), token)
        assert response.status == 500, token
        assert response.body == b'{"message": null}'
        assert response.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"


# R-AUTH-1 R-AUTH-2
@pytest.mark.slow
def test_the_policy_decides_deny_wins_and_no_allow_is_denied(env):
    """An explicit Deny on the method ARN wins over an Allow on the API; a policy whose Allow does not
    cover the method ARN is an implicit deny; both are 403 ACCESS_DENIED, with that gateway response's
    headers.
    https://aws.amazon.com/premiumsupport/knowledge-center/api-gateway-403-error-lambda-authorizer/"""
    denied = _get(env.api.url("/items/1"), "Bearer deny")
    assert (denied.status, denied.body) == (403, EXPLICIT_DENY)
    assert denied.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert denied.headers["Access-Control-Allow-Origin"] == "*"
    assert denied.headers["X-Kind"] == "access-denied"
    elsewhere = _get(env.api.url("/items/1"), "Bearer elsewhere")
    assert (elsewhere.status, elsewhere.body) == (403, IMPLICIT_DENY)


# R-AUTH-1
@pytest.mark.slow
def test_a_cached_policy_is_evaluated_against_the_new_method_arn(cloud, env):
    """With a TTL the result is cached per token and the cached policy is evaluated against each new
    request's method ARN: a policy naming one path denies another path until it expires.
    https://aws.amazon.com/premiumsupport/knowledge-center/api-gateway-lambda-authorization-errors/"""
    before = _calls(cloud, env.cached_fn)
    first = _get(env.api.url("/cached/a"), "Bearer exact-carol")
    again = _get(env.api.url("/cached/a"), "Bearer exact-carol")
    other_path = _get(env.api.url("/cached/b"), "Bearer exact-carol")
    assert (first.status, again.status) == (200, 200)
    assert (other_path.status, other_path.body) == (403, IMPLICIT_DENY)
    assert _calls(cloud, env.cached_fn) == before + 1  # one invocation for the three requests
    assert again.json()["event"]["requestContext"]["authorizer"]["principalId"] == "user-exact-carol"
    # Another token is another cache entry.
    assert _get(env.api.url("/cached/b"), "Bearer exact-dave").status == 200
    assert _calls(cloud, env.cached_fn) == before + 2

    # TTL 0: every request invokes the authorizer.
    uncached_before = _calls(cloud, env.fn)
    _get(env.api.url("/items"), "Bearer erin")
    _get(env.api.url("/items"), "Bearer erin")
    assert _calls(cloud, env.fn) == uncached_before + 2


@pytest.mark.slow
def test_without_invoke_permission_the_authorizer_fails_with_500(cloud, env):
    """API Gateway needs lambda:InvokeFunction on the authorizer function (a resource-policy statement
    for its /authorizers/ID source ARN, or an authorizerCredentials role allowed to); without it: 500.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html"""
    response = _get(env.bare.url("/items"), "Bearer alice")
    assert response.status == 500
    assert response.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    # authorizerCredentials: the role's policies must allow lambda:InvokeFunction on the function.
    assert _get(env.bare.url("/with-role"), "Bearer alice").status == 200
    assert _get(env.bare.url("/with-weak-role"), "Bearer alice").status == 500


# R-AUTH-1
@pytest.mark.slow
def test_the_api_key_is_checked_after_the_authorizer(env):
    """A method with an authorizer and apiKeyRequired: no token is 401 (authorization first), a good
    token without a key is 403 Forbidden, both pass.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-api-key-source.html"""
    assert _get(env.api.url("/keyed")).status == 401
    no_key = _get(env.api.url("/keyed"), "Bearer alice")
    assert (no_key.status, no_key.body) == (403, FORBIDDEN)
    both = _get(env.api.url("/keyed"), "Bearer alice", **{"x-api-key": env.key["value"]})
    assert both.status == 200
    assert both.json()["event"]["requestContext"]["identity"]["apiKey"] == env.key["value"]


@pytest.mark.slow
def test_a_stage_serves_the_authorizer_of_its_deployment(cloud, env):
    """An authorizer change reaches a stage with the next deployment, not before.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html
    ("redeploy the API")"""
    api = env.api

    def expression(value):
        api.apigw.update_authorizer(
            restApiId=api.id,
            authorizerId=env.uncached,
            patchOperations=[{"op": "replace", "path": "/identityValidationExpression", "value": value}],
        )

    before = _calls(cloud, env.fn)
    expression(r"Token \w+")
    try:
        assert _get(api.url("/items"), "Bearer frank").status == 200  # the deployed expression
        assert _get(api.url("/items"), "Token frank").status == 401
        api.deploy("test")
        assert _get(api.url("/items"), "Bearer frank").status == 401
        assert _get(api.url("/items"), "Token frank").status == 200
    finally:
        expression(r"Bearer [\w-]+")
        api.deploy("test")
    assert _calls(cloud, env.fn) == before + 2


# R-AUTH-1
@pytest.mark.slow
def test_a_request_authorizer_needs_every_identity_source_and_caches_by_their_values(cloud, env):
    """A REQUEST authorizer: a missing identity source is 401 without invoking; the event is the
    request (headers, query string, path, context) with type REQUEST and methodArn; results are cached
    by the identity sources' values.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
    https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html (identitySource)"""
    url = env.api.url("/by-request")
    before = _calls(cloud, env.request_fn)

    def post(query, tenant=None):
        headers = {"X-Tenant": tenant} if tenant else {}
        return http(url + query, method="POST", headers=headers, body=b'{"a": 1}')

    assert post("?token=grace").status == 401
    assert post("", tenant="t1").status == 401
    assert _calls(cloud, env.request_fn) == before

    response = post("?token=grace", tenant="t1")
    assert response.status == 200, response.body
    seen = json.loads(response.json()["event"]["requestContext"]["authorizer"]["seenEvent"])
    assert seen["type"] == "REQUEST"
    assert (
        seen["methodArn"] == f"arn:aws:execute-api:us-east-1:123456789012:{env.api.id}/test/POST/by-request"
    )
    assert seen["headers"]["X-Tenant"] == "t1"
    assert seen["queryStringParameters"] == {"token": "grace"}
    assert seen["httpMethod"] == "POST" and seen["resource"] == "/by-request"
    assert seen["requestContext"]["stage"] == "test"
    assert "body" not in seen

    assert post("?token=grace", tenant="t1").status == 200
    assert _calls(cloud, env.request_fn) == before + 1  # cached by (t1, grace)
    assert post("?token=grace", tenant="t2").status == 200
    assert _calls(cloud, env.request_fn) == before + 2


def _role_policy(kit, *statements):
    kit.client("iam").put_role_policy(
        RoleName=kit.role_arn.rsplit("/", 1)[-1],
        PolicyName="authorizer-secret",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    )


# R-AUTH-1
@pytest.mark.slow
def test_an_authorizer_reading_its_key_from_secrets_manager_needs_its_role_to_allow_it(kit):
    """The authorizer function reads its signing key with GetSecretValue under its execution role: with
    the permission the token is checked against the key; without it the call is denied, the function
    fails and API Gateway answers 500.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieving-secrets_lambda.html"""
    secret_arn = kit.client("secretsmanager").create_secret(
        Name=f"authz-key-{kit.suffix}", SecretString="k3y"
    )["ARN"]
    fn = kit.function(
        "auth.from_secret",
        code=build_zip(AUTHORIZER_SOURCE, "auth.py"),
        permission=False,
        env={"SECRET": f"authz-key-{kit.suffix}"},
    )
    echo = kit.function("app.echo")["FunctionArn"]
    api = kit.api("token-from-secret")
    _allow_authorizer(kit, api.id, fn)
    api.proxy("/items", "GET", echo)
    _protect(api, "/items", "GET", _token_authorizer(api, fn, ttl=0, name="secret"))
    api.deploy("test")

    _role_policy(kit, {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn})
    assert _get(api.url("/items"), "Bearer k3y").status == 200
    assert _get(api.url("/items"), "Bearer other").status == 401
    _role_policy(kit, {"Effect": "Allow", "Action": "secretsmanager:DescribeSecret", "Resource": secret_arn})
    denied = _get(api.url("/items"), "Bearer k3y")
    assert denied.status == 500
    assert denied.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
