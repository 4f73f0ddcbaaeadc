"""The fidelity fixes for authorizers and the methods that use them, in decorator and server mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import fidelity

REGION = "us-east-1"
NO_RETRY = Config(retries={"total_max_attempts": 1})
LAMBDA_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:authz/invocations"
)
HEADER = "method.request.header.Authorization"
POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc123"
INVALID_AUTHORIZER_ID = (
    "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS "
    "requires a valid authorizer."
)

ClientFactory = Callable[[str], object]


@pytest.fixture(params=["decorator", "server"])
def apigw(request: pytest.FixtureRequest) -> Iterator[object]:
    fidelity.apply()
    if request.param == "server":
        url = request.getfixturevalue("moto_server")
        yield boto3.client("apigateway", region_name=REGION, endpoint_url=url, config=NO_RETRY)
    else:
        with mock_aws():
            yield boto3.client("apigateway", region_name=REGION, config=NO_RETRY)


def _refused(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as exc:
        call()
    error = exc.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "BadRequestException",
        400,
    )
    return str(error["Error"]["Message"])


def _api(ag) -> tuple[str, str]:
    api_id = ag.create_rest_api(name="authz")["id"]
    root = ag.get_resources(restApiId=api_id)["items"][0]["id"]
    return api_id, ag.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]


# R-AUTH-1
def test_create_authorizer_checks_what_each_type_needs(apigw) -> None:
    """TOKEN needs an authorizerUri naming a Lambda function and one header as identity source;
    COGNITO_USER_POOLS needs user pool ARNs and one header; the TTL is 0..3600. Nothing is stored when
    refused.
    https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html"""
    ag = apigw
    api_id, _ = _api(ag)
    token = {"name": "t", "type": "TOKEN", "identitySource": "method.request.header.Authorization"}

    assert "Authorizer URI" in _refused(lambda: ag.create_authorizer(restApiId=api_id, **token))
    assert "Invalid Authorizer URI" in _refused(
        lambda: ag.create_authorizer(restApiId=api_id, authorizerUri="arn:aws:lambda:nope", **token)
    )
    assert "identity source" in _refused(
        lambda: ag.create_authorizer(
            restApiId=api_id,
            name="t",
            type="TOKEN",
            authorizerUri=LAMBDA_URI,
            identitySource="method.request.querystring.token",
        )
    )
    assert "between 0 and 3600" in _refused(
        lambda: ag.create_authorizer(
            restApiId=api_id, authorizerUri=LAMBDA_URI, authorizerResultTtlInSeconds=4000, **token
        )
    )
    assert "providerARNs" in _refused(
        lambda: ag.create_authorizer(
            restApiId=api_id, name="c", type="COGNITO_USER_POOLS", identitySource=HEADER
        )
    )
    assert "identity source" in _refused(
        lambda: ag.create_authorizer(
            restApiId=api_id, name="c", type="COGNITO_USER_POOLS", providerARNs=[POOL_ARN]
        )
    )
    assert "Invalid provider ARN" in _refused(
        lambda: ag.create_authorizer(
            restApiId=api_id,
            name="c",
            type="COGNITO_USER_POOLS",
            providerARNs=["pool"],
            identitySource=HEADER,
        )
    )
    assert ag.get_authorizers(restApiId=api_id)["items"] == []

    created = ag.create_authorizer(
        restApiId=api_id,
        authorizerUri=LAMBDA_URI,
        identityValidationExpression=r"Bearer \S+",
        authorizerResultTtlInSeconds=3600,
        **token,
    )
    read = ag.get_authorizer(restApiId=api_id, authorizerId=created["id"])
    assert read["identityValidationExpression"] == r"Bearer \S+"
    assert read["authorizerResultTtlInSeconds"] == 3600


def test_update_authorizer_patches_provider_arns_and_keeps_the_limits(apigw) -> None:
    """UpdateAuthorizer: add/remove /providerARNs members; a TTL outside 0..3600 is refused and the
    authorizer keeps its settings.
    https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateAuthorizer.html"""
    ag = apigw
    api_id, _ = _api(ag)
    other = POOL_ARN.replace("abc123", "def456")
    created = ag.create_authorizer(
        restApiId=api_id, name="c", type="COGNITO_USER_POOLS", providerARNs=[POOL_ARN], identitySource=HEADER
    )
    updated = ag.update_authorizer(
        restApiId=api_id,
        authorizerId=created["id"],
        patchOperations=[
            {"op": "add", "path": "/providerARNs", "value": other},
            {"op": "remove", "path": f"/providerARNs/{POOL_ARN.replace('/', '~1')}"},
            {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "60"},
        ],
    )
    assert updated["providerARNs"] == [other]
    assert updated["authorizerResultTtlInSeconds"] == 60
    assert "between 0 and 3600" in _refused(
        lambda: ag.update_authorizer(
            restApiId=api_id,
            authorizerId=created["id"],
            patchOperations=[{"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "3601"}],
        )
    )
    assert (
        ag.get_authorizer(restApiId=api_id, authorizerId=created["id"])["authorizerResultTtlInSeconds"] == 60
    )


# R-AUTH-1
@pytest.mark.heavy
def test_methods_need_a_valid_authorizer_of_the_right_kind(apigw) -> None:
    """PutMethod/UpdateMethod: CUSTOM needs a TOKEN or REQUEST authorizer of the API and
    COGNITO_USER_POOLS a Cognito one; an unknown authorizationType is refused; a refused update leaves
    the method as it was.
    https://docs.aws.amazon.com/apigateway/latest/api/API_PutMethod.html"""
    ag = apigw
    api_id, res = _api(ag)
    token_id = ag.create_authorizer(
        restApiId=api_id,
        name="t",
        type="TOKEN",
        authorizerUri=LAMBDA_URI,
        identitySource="method.request.header.Authorization",
    )["id"]
    pool_id = ag.create_authorizer(
        restApiId=api_id, name="c", type="COGNITO_USER_POOLS", providerARNs=[POOL_ARN], identitySource=HEADER
    )["id"]

    def put(kind: str, authorizer: str | None) -> object:
        extra = {"authorizerId": authorizer} if authorizer else {}
        return ag.put_method(
            restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType=kind, **extra
        )

    assert _refused(lambda: put("CUSTOM", None)) == INVALID_AUTHORIZER_ID
    assert _refused(lambda: put("CUSTOM", "nope")) == INVALID_AUTHORIZER_ID
    assert _refused(lambda: put("CUSTOM", pool_id)) == INVALID_AUTHORIZER_ID
    assert _refused(lambda: put("COGNITO_USER_POOLS", token_id)) == INVALID_AUTHORIZER_ID
    assert "authorization type" in _refused(lambda: put("BOGUS", None))
    with pytest.raises(ClientError):
        ag.get_method(restApiId=api_id, resourceId=res, httpMethod="GET")  # nothing half-made

    put("CUSTOM", token_id)
    assert (
        _refused(
            lambda: ag.update_method(
                restApiId=api_id,
                resourceId=res,
                httpMethod="GET",
                patchOperations=[
                    {"op": "replace", "path": "/authorizationType", "value": "COGNITO_USER_POOLS"}
                ],
            )
        )
        == INVALID_AUTHORIZER_ID
    )
    method = ag.get_method(restApiId=api_id, resourceId=res, httpMethod="GET")
    assert (method["authorizationType"], method["authorizerId"]) == ("CUSTOM", token_id)

    updated = ag.update_method(
        restApiId=api_id,
        resourceId=res,
        httpMethod="GET",
        patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "COGNITO_USER_POOLS"},
            {"op": "replace", "path": "/authorizerId", "value": pool_id},
            {"op": "add", "path": "/authorizationScopes", "value": "orders/read"},
        ],
    )
    assert (updated["authorizationType"], updated["authorizerId"]) == ("COGNITO_USER_POOLS", pool_id)
    assert updated["authorizationScopes"] == ["orders/read"]
