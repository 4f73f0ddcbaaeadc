"""COGNITO_USER_POOLS authorizers on the gateway, and a signing key per user pool.

User pools, app clients and users are made with boto3 against the running local cloud and users
sign in with ADMIN_USER_PASSWORD_AUTH, as a client of the API would; forged tokens (another pool's
key, an expired one, a foreign audience) are signed in-process with the pools' own keys.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
from joserfc import jwk, jwt
from joserfc.errors import JoseError
from localcloud_helpers import http

from localcloud.cognito.fixes import find_pool, pool_key

UNAUTHORIZED = b'{"message":"Unauthorized"}'
ADMIN_SCOPE = "aws.cognito.signin.user.admin"


def _pool(kit, name):
    idp = kit.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=f"{name}-{kit.suffix}")["UserPool"]
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="web",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    user = f"user-{uuid.uuid4().hex[:6]}"
    idp.admin_create_user(UserPoolId=pool["Id"], Username=user, MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool["Id"], Username=user, Password="Passw0rd!Passw0rd", Permanent=True
    )
    tokens = idp.admin_initiate_auth(
        UserPoolId=pool["Id"],
        ClientId=client["ClientId"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": "Passw0rd!Passw0rd"},
    )["AuthenticationResult"]
    return SimpleNamespace(
        id=pool["Id"], arn=pool["Arn"], client=client["ClientId"], user=user, tokens=tokens
    )


def _method(api, path, authorizer_id, echo, scopes=None):
    api.proxy(path, "GET", echo)
    operations = [
        {"op": "replace", "path": "/authorizationType", "value": "COGNITO_USER_POOLS"},
        {"op": "replace", "path": "/authorizerId", "value": authorizer_id},
    ]
    operations += [{"op": "add", "path": "/authorizationScopes", "value": s} for s in scopes or []]
    api.apigw.update_method(
        restApiId=api.id, resourceId=api.resource(path), httpMethod="GET", patchOperations=operations
    )


@pytest.fixture(scope="module")
def env(kit):
    pool, other = _pool(kit, "users"), _pool(kit, "elsewhere")
    echo = kit.function("app.echo")["FunctionArn"]
    api = kit.api("cognito-auth")
    authorizer_id = api.apigw.create_authorizer(
        restApiId=api.id,
        name="users",
        type="COGNITO_USER_POOLS",
        providerARNs=[pool.arn],
        identitySource="method.request.header.Authorization",
    )["id"]
    _method(api, "/profile", authorizer_id, echo)
    _method(api, "/admin", authorizer_id, echo, scopes=[ADMIN_SCOPE])
    _method(api, "/orders", authorizer_id, echo, scopes=["orders/read"])
    uncached_id = api.apigw.create_authorizer(
        restApiId=api.id,
        name="users-uncached",
        type="COGNITO_USER_POOLS",
        providerARNs=[pool.arn],
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=0,
    )["id"]
    _method(api, "/fresh", uncached_id, echo)
    for path, expression in (("/this-client", pool.client), ("/other-client", "^nobody$")):
        checked = api.apigw.create_authorizer(
            restApiId=api.id,
            name=f"aud{path.replace('/', '-')}",
            type="COGNITO_USER_POOLS",
            providerARNs=[pool.arn],
            identitySource="method.request.header.Authorization",
            identityValidationExpression=expression,
        )["id"]
        _method(api, path, checked, echo)
    api.gateway_response("DEFAULT_4XX", {"Access-Control-Allow-Origin": "*"})
    api.deploy("test")
    return SimpleNamespace(api=api, pool=pool, other=other)


def _get(url, token=None):
    return http(url, headers={"Authorization": token} if token is not None else {})


def _forge(pool_id, key, **changes):
    """An ID token of ``pool_id``'s user, re-signed with ``key`` after ``changes`` to its claims."""
    claims = dict(jwt.decode(changes.pop("token"), pool_key(find_pool(pool_id))).claims)
    claims.update(changes)
    return jwt.encode({"kid": key.kid, "alg": "RS256"}, claims, key)


# R-AUTH-1
@pytest.mark.slow  # runs the function in a worker process
def test_an_id_token_of_the_pool_passes_and_its_claims_reach_the_function(env):
    """A method without scopes takes the pool's ID token, as a bearer token or bare; its claims reach
    requestContext.authorizer.claims as strings.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-integrate-with-cognito.html"""
    id_token = env.pool.tokens["IdToken"]
    response = _get(env.api.url("/profile"), f"Bearer {id_token}")
    assert response.status == 200, response.body
    claims = response.json()["event"]["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:username"] == env.pool.user
    assert claims["token_use"] == "id"
    assert claims["aud"] == env.pool.client
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{env.pool.id}"
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime())) and " UTC " in claims["exp"]
    assert _get(env.api.url("/profile"), id_token).status == 200


# R-AUTH-1 R-AUTH-3
@pytest.mark.slow
def test_missing_malformed_foreign_and_expired_tokens_are_401(env):
    """No token, not a JWT, a token of a pool the authorizer does not name, a token signed with another
    pool's key, an ID token for another audience: 401 Unauthorized (DEFAULT_4XX headers); an expired one:
    401 "The incoming token has expired" (``test_an_expired_token_is_401_the_incoming_token_has_expired``).
    https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html"""
    own, other = env.pool, env.other
    id_token = own.tokens["IdToken"]
    refused = {
        "missing": None,
        "not a JWT": "Bearer not-a-jwt",
        "other pool": f"Bearer {other.tokens['IdToken']}",
        "other pool's key": _forge(own.id, pool_key(find_pool(other.id)), token=id_token),
        "other audience": _forge(own.id, pool_key(find_pool(own.id)), token=id_token, aud="someone-else"),
        "unknown key": _forge(own.id, jwk.RSAKey.generate_key(2048, parameters={"kid": "x"}), token=id_token),
    }
    for case, token in refused.items():
        response = _get(env.api.url("/profile"), token)
        assert (response.status, response.body) == (401, UNAUTHORIZED), case
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    # The forging itself is sound: the same claims, signed with the pool's own key, pass.
    assert (
        _get(env.api.url("/profile"), _forge(own.id, pool_key(find_pool(own.id)), token=id_token)).status
        == 200
    )


@pytest.mark.slow
def test_an_expired_token_is_401_the_incoming_token_has_expired(env):
    """Issue 22 case: an expired Cognito token got {"message":"Unauthorized"}; API Gateway answers 401
    {"message":"The incoming token has expired"}, the message clients' token-refresh logic matches on
    (https://repost.aws/knowledge-center/api-gateway-cognito-401-unauthorized: a 401 of a Cognito user
    pool authorizer for a token that is expired). A token that is expired and also signed with another
    key is Unauthorized: the signature is checked first."""
    own, other = env.pool, env.other
    id_token = own.tokens["IdToken"]
    expired = _forge(own.id, pool_key(find_pool(own.id)), token=id_token, exp=int(time.time()) - 5)
    response = _get(env.api.url("/profile"), expired)
    assert (response.status, response.body) == (401, b'{"message":"The incoming token has expired"}')
    assert response.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert response.headers["Access-Control-Allow-Origin"] == "*"

    forged = _forge(own.id, pool_key(find_pool(other.id)), token=id_token, exp=int(time.time()) - 5)
    assert (_get(env.api.url("/profile"), forged).status, _get(env.api.url("/profile"), forged).body) == (
        401,
        UNAUTHORIZED,
    )


@pytest.mark.slow
def test_scoped_methods_take_an_access_token_with_one_of_their_scopes(env):
    """With authorizationScopes the method takes an access token holding one of them (the ID token is
    refused); without scopes the access token is refused.
    https://docs.aws.amazon.com/apigateway/latest/api/API_Method.html (authorizationScopes)"""
    access, id_token = env.pool.tokens["AccessToken"], env.pool.tokens["IdToken"]
    assert _get(env.api.url("/admin"), f"Bearer {access}").status == 200
    assert _get(env.api.url("/admin"), f"Bearer {id_token}").status == 401
    assert _get(env.api.url("/orders"), f"Bearer {access}").status == 401
    assert _get(env.api.url("/profile"), f"Bearer {access}").status == 401


# R-AUTH-3
@pytest.mark.heavy
def test_each_pool_signs_with_its_own_key_served_as_its_jwks(cloud, env):
    """Each user pool's tokens carry its own kid and verify with the JWKS served for that pool only.
    https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html"""

    def jwks(pool_id):
        with urllib.request.urlopen(
            f"{cloud.endpoint_url}/{pool_id}/.well-known/jwks.json", timeout=10
        ) as answer:
            return jwk.KeySet.import_key_set(json.loads(answer.read()))

    own, other = jwks(env.pool.id), jwks(env.other.id)
    token = env.pool.tokens["IdToken"]
    assert jwt.decode(token, own).claims["token_use"] == "id"
    with pytest.raises(JoseError):  # no key of the other pool has this token's kid
        jwt.decode(token, other)
    assert own.keys[0].kid != other.keys[0].kid


@pytest.mark.slow
def test_a_verified_token_is_cached_for_the_authorizers_ttl(kit, env):
    """authorizerResultTtlInSeconds applies to Cognito authorizers too: within it a verified token is
    not verified again (an app client deleted meanwhile goes unnoticed); with TTL 0 every request is.
    https://docs.aws.amazon.com/apigateway/latest/api/API_CreateAuthorizer.html"""
    idp = kit.client("cognito-idp")
    client = idp.create_user_pool_client(UserPoolId=env.pool.id, ClientName="mobile")["UserPoolClient"][
        "ClientId"
    ]
    key = pool_key(find_pool(env.pool.id))
    token = f"Bearer {_forge(env.pool.id, key, token=env.pool.tokens['IdToken'], aud=client)}"
    assert _get(env.api.url("/profile"), token).status == 200
    assert _get(env.api.url("/fresh"), token).status == 200
    idp.delete_user_pool_client(UserPoolId=env.pool.id, ClientId=client)
    assert _get(env.api.url("/profile"), token).status == 200  # cached for 300 s
    assert _get(env.api.url("/fresh"), token).status == 401


@pytest.mark.slow
def test_the_validation_expression_is_matched_against_the_audience(env):
    """For COGNITO_USER_POOLS authorizers identityValidationExpression is matched against the token's
    aud: a token for another app client is 401.
    https://docs.aws.amazon.com/apigateway/latest/api/API_Authorizer.html (identityValidationExpression)"""
    token = f"Bearer {env.pool.tokens['IdToken']}"
    assert _get(env.api.url("/this-client"), token).status == 200
    assert _get(env.api.url("/other-client"), token).status == 401
