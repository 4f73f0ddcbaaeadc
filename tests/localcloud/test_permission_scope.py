"""Resource-based permissions are scoped to the function, version or alias they were added to, on every
path by which API Gateway invokes a function; an unknown version or alias is not found.

- https://docs.aws.amazon.com/lambda/latest/dg/using-aliases.html ("Resource policies"): a permission on
  an alias (``helloworld:PROD``) allows invoking through the alias ARN only; invoking the function
  without the alias, or the version the alias points at, is a permission error.
- https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html (``Qualifier``): without one, the
  statement is on the unqualified function, which is also what ``NAME:$LATEST`` names.
- https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-troubleshooting-lambda.html:
  API Gateway without permission to invoke its integration's function answers 500 and its execution
  log says "Execution failed due to configuration error: Invalid permissions on Lambda function".
- https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html (Errors): ResourceNotFoundException,
  404, "The resource specified in the request does not exist."
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import build_zip, http

pytestmark = pytest.mark.slow  # the allowed calls run functions in worker processes

INTERNAL_ERROR = (500, b'{"message": "Internal server error"}')

AUTHORIZER_SOURCE = """
def handler(event, context):
    return {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}],
        },
    }
"""


@pytest.fixture(scope="module")
def env(kit):
    lam = kit.client("lambda")
    # on_alias: a permission on its alias `live` only; on_function: on the unqualified function only.
    fns = SimpleNamespace(
        on_alias=kit.function("app.version", permission=False),
        on_function=kit.function("app.version", permission=False),
    )
    for fn in (fns.on_alias, fns.on_function):
        assert lam.publish_version(FunctionName=fn["FunctionName"])["Version"] == "1"
        lam.create_alias(FunctionName=fn["FunctionName"], Name="live", FunctionVersion="1")
    kit.permission(fns.on_alias["FunctionName"], "live")
    kit.permission(fns.on_function["FunctionName"])

    api = kit.api("scoped")
    for label, fn in (("alias-perm", fns.on_alias), ("function-perm", fns.on_function)):
        arn = fn["FunctionArn"]
        api.proxy(f"/{label}/alias", "GET", f"{arn}:live")
        api.proxy(f"/{label}/unqualified", "GET", arn)
        api.proxy(f"/{label}/version", "GET", f"{arn}:1")
        api.proxy(f"/{label}/latest", "GET", f"{arn}:$LATEST")
        api.proxy(f"/{label}/unknown-version", "GET", f"{arn}:99")
    api.deploy("test")
    return SimpleNamespace(api=api, fns=fns)


def _refused_in_log(caplog, fn) -> bool:
    return any(
        "Invalid permissions on Lambda function" in r.getMessage() and fn["FunctionName"] in r.getMessage()
        for r in caplog.records
    )


def test_a_permission_on_the_alias_allows_the_alias_only(cloud, env, caplog):
    """Issue 22 case: a permission on `live` let the gateway invoke the unqualified function and `:1`.
    Now only `function:live` is invoked; the others get 500 Internal server error, the reason in the log."""
    caplog.set_level(logging.WARNING, logger="localcloud.gateway")
    fn = env.fns.on_alias

    assert http(env.api.url("/alias-perm/alias")).status == 200
    for route in ("unqualified", "version", "latest"):
        caplog.clear()
        response = http(env.api.url(f"/alias-perm/{route}"))
        assert (response.status, response.body) == INTERNAL_ERROR, route
        assert _refused_in_log(caplog, fn), route
    assert [r["function_arn"].rsplit(":", 1)[-1] for r in cloud.invocations(fn["FunctionName"])] == ["live"]


def test_a_permission_on_the_function_allows_the_function_and_latest_only(cloud, env, caplog):
    """Issue 22 case: a permission on the unqualified function let the gateway invoke the alias. Now the
    function (and `$LATEST`, the same policy) is invoked; the alias and the version get 500."""
    caplog.set_level(logging.WARNING, logger="localcloud.gateway")
    fn = env.fns.on_function

    assert http(env.api.url("/function-perm/unqualified")).status == 200
    assert http(env.api.url("/function-perm/latest")).status == 200
    for route in ("alias", "version"):
        caplog.clear()
        response = http(env.api.url(f"/function-perm/{route}"))
        assert (response.status, response.body) == INTERNAL_ERROR, route
        assert _refused_in_log(caplog, fn), route
    assert {r["version"] for r in cloud.invocations(fn["FunctionName"])} == {"$LATEST"}


def test_an_unknown_version_through_the_gateway_is_500(cloud, env):
    """An integration naming a version that does not exist: API Gateway answers 500 Internal server error
    and nothing runs."""
    for label, fn in (("alias-perm", env.fns.on_alias), ("function-perm", env.fns.on_function)):
        before = len(cloud.invocations(fn["FunctionName"]))
        response = http(env.api.url(f"/{label}/unknown-version"))
        assert (response.status, response.body) == INTERNAL_ERROR
        assert len(cloud.invocations(fn["FunctionName"])) == before


@pytest.mark.parametrize("qualifier", ["99", "nope"])
def test_invoke_of_an_unknown_version_or_alias_is_404(kit, env, qualifier):
    """Issue 22 case: Invoke of `:99` answered 200 with FunctionError Handled and a message about Docker;
    Lambda answers 404 ResourceNotFoundException "Function not found: ARN:99"."""
    fn = env.fns.on_alias
    for kwargs in (
        {"FunctionName": fn["FunctionName"], "Qualifier": qualifier},
        {"FunctionName": f"{fn['FunctionName']}:{qualifier}"},
        {"FunctionName": fn["FunctionName"], "Qualifier": qualifier, "InvocationType": "Event"},
    ):
        with pytest.raises(ClientError) as raised:
            kit.client("lambda").invoke(Payload=b"{}", **kwargs)
        error = raised.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404, kwargs
        assert error["Error"]["Code"] == "ResourceNotFoundException"
        assert error["Error"]["Message"] == f"Function not found: {fn['FunctionArn']}:{qualifier}"


def test_an_authorizer_permission_covers_the_arn_its_uri_names(cloud, kit):
    """Issue 22 case, TOKEN authorizer: an authorizer URI naming the alias `live` with a permission on the
    unqualified function is refused (500 AuthorizerConfigurationException, the reason in the log); with
    the permission on the alias it is invoked.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/configure-api-gateway-lambda-authorization.html"""
    lam = kit.client("lambda")
    authorizer = kit.function("app.handler", code=build_zip(AUTHORIZER_SOURCE), permission=False)
    name = authorizer["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    backend = kit.function("app.version")
    api = kit.api("scoped-authorizer")
    uri = (
        f"arn:aws:apigateway:{kit.region}:lambda:path/2015-03-31/functions/"
        f"{authorizer['FunctionArn']}:live/invocations"
    )
    authorizer_id = api.apigw.create_authorizer(
        restApiId=api.id,
        name="scoped",
        type="TOKEN",
        authorizerUri=uri,
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=0,
    )["id"]
    resource = api.resource("/items")
    api.apigw.put_method(
        restApiId=api.id,
        resourceId=resource,
        httpMethod="GET",
        authorizationType="CUSTOM",
        authorizerId=authorizer_id,
    )
    api.apigw.put_integration(
        restApiId=api.id,
        resourceId=resource,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{kit.region}:lambda:path/2015-03-31/functions/{backend['FunctionArn']}/invocations",
    )
    api.deploy("test")
    source_arn = f"arn:aws:execute-api:{kit.region}:123456789012:{api.id}/authorizers/{authorizer_id}"
    kit.permission(name, source_arn=source_arn)  # on the function, not on the alias the URI names

    refused = http(api.url("/items"), headers={"Authorization": "Bearer alice"})
    assert refused.status == 500
    assert refused.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    assert cloud.invocations(name) == []

    kit.permission(name, "live", source_arn=source_arn)
    allowed = http(api.url("/items"), headers={"Authorization": "Bearer alice"})
    assert allowed.status == 200
    assert [r["function_arn"].rsplit(":", 1)[-1] for r in cloud.invocations(name)] == ["live"]
