"""Each authorization mode provisioned into the local cloud, verified, then broken (R-AUTH-1..3).

One environment per mode for the whole module. Verification obtains the mode's credential (a
token it signs with the environment's key, a Cognito user it creates and signs in, SigV4 with the
engine's own credentials) and checks the refusals by name. The issue's bad credentials are sent
as a client would send them, and a method whose authorization was taken off makes exactly the
refusal checks fail, which is what proves they can.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud import LocalCloud
from provisioning import credentials, http, tokens
from provisioning.aws import AwsClients, AwsTarget
from provisioning.engine import Engine
from provisioning.spec import EnvironmentSpec, build_spec
from provisioning.verify import VerifyReport, verify

pytestmark = pytest.mark.slow

REFUSALS = {
    "token": {"no token", "malformed token", "expired token", "token signed with another key"},
    "cognito": {"no token", "malformed token", "tampered token", "token signed with another key"},
    "iam": {"unsigned request", "request signed with a wrong secret key"},
}


class Env:
    def __init__(self, spec: EnvironmentSpec, target: AwsTarget, outputs: dict[str, Any]) -> None:
        self.spec, self.target, self.outputs = spec, target, outputs
        self.clients = AwsClients(target)

    @property
    def url(self) -> str:
        return str(self.outputs["api_endpoint"]).rstrip("/") + "/items"

    def key(self) -> str:
        apigw = self.clients.client("apigateway")
        return str(apigw.get_api_key(apiKey=self.outputs["api_key_id"], includeValue=True)["value"])

    def get(self, credential: credentials.Credential) -> http.Response:
        headers = {"x-api-key": self.key(), "Origin": "https://app.example.com"}
        headers.update(credential("GET", self.url, headers, None))
        return http.request("GET", self.url, headers=headers)

    def verify(self) -> VerifyReport:
        return verify(self.spec, self.target, settle_s=2.0)


def _provision(mode: str, target: AwsTarget, **overrides: Any) -> Env:
    spec = build_spec(suffix=f"e2e-{mode}", stage="dev", overrides={"auth": mode, **overrides})
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    return Env(spec, target, result.outputs)


@pytest.fixture(scope="module")
def token_env(target: AwsTarget) -> Iterator[Env]:
    env = _provision("token", target, auth_ttl_s=0)
    yield env
    assert Engine(env.spec, target).destroy().ok


@pytest.fixture(scope="module")
def cognito_env(target: AwsTarget) -> Iterator[Env]:
    env = _provision("cognito", target)
    yield env
    assert Engine(env.spec, target).destroy().ok


@pytest.fixture(scope="module")
def iam_env(target: AwsTarget) -> Iterator[Env]:
    env = _provision("iam", target)
    yield env
    assert Engine(env.spec, target).destroy().ok


def _passes_with_its_refusals(env: Env, mode: str) -> VerifyReport:
    report = env.verify()
    assert report.ok, [(c.name, c.expected, c.found) for c in report.failed] or report.error
    auth = {c.name for c in report.checks if c.requirement == "R-AUTH-3"}
    assert auth == REFUSALS[mode]
    return report


def _take_authorization_off(env: Env, local_cloud: LocalCloud) -> None:
    """GET /items without its authorization, deployed: what a hand edit in the console does."""
    apigw = local_cloud.client("apigateway")
    api_id = env.outputs["api_id"]
    resource = next(r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/items")
    apigw.update_method(
        restApiId=api_id,
        resourceId=resource["id"],
        httpMethod="GET",
        patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "NONE"},
            {"op": "replace", "path": "/authorizerId", "value": ""},
        ],
    )
    deployment = apigw.create_deployment(restApiId=api_id)["id"]
    apigw.update_stage(
        restApiId=api_id,
        stageName=env.spec.names.api_stage,
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
    )


def _broken_then_repaired(env: Env, local_cloud: LocalCloud, mode: str) -> None:
    _take_authorization_off(env, local_cloud)
    report = env.verify()
    failed = {c.name: c.found for c in report.failed}
    # every refusal now gets the function's 200, and the live config names the method
    assert REFUSALS[mode] <= set(failed), failed
    assert all(failed[name].startswith("HTTP 200") for name in REFUSALS[mode]), failed
    assert "method:GET /items.authorizationType" in failed["live config: rest_api"]
    assert Engine(env.spec, env.target).apply().ok
    _passes_with_its_refusals(env, mode)


# --- token -----------------------------------------------------------------------------------
def test_token_mode_verifies_and_refuses_foreign_and_expired_tokens(
    token_env: Env, local_cloud: LocalCloud
) -> None:
    # R-AUTH-1, R-AUTH-2, R-AUTH-3
    _passes_with_its_refusals(token_env, "token")
    names = token_env.spec.names
    key = tokens.read_key(token_env.clients, names)
    good = tokens.sign(tokens.claims_for(names, subject="alice", ttl_s=60), key)
    assert token_env.get(credentials.bearer(good)).status == 200
    foreign = tokens.sign(tokens.claims_for(names, subject="alice", ttl_s=60), b"f" * 32)
    denied = token_env.get(credentials.bearer(foreign))
    # API Gateway's answer to an authorizer's explicit Deny (capital M, as AWS sends it; the local
    # cloud words the rest as IAM does, which tests/localcloud pins down)
    assert denied.status == 403
    assert str((denied.json() or {}).get("Message", "")).startswith(
        "User is not authorized to access this resource with an explicit deny"
    )
    assert denied.header("Access-Control-Allow-Origin") == "*"  # R-AUTH-2
    expired = tokens.sign(tokens.claims_for(names, subject="alice", ttl_s=60, now=time.time() - 7200), key)
    assert token_env.get(credentials.bearer(expired)).status == 403
    missing = token_env.get(credentials.no_credential)
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})
    assert missing.header("Access-Control-Allow-Origin") == "*"  # R-AUTH-2
    # another environment's issuer, signed with this environment's own key
    other = tokens.sign(
        {**tokens.claims_for(names, subject="alice", ttl_s=60), "iss": "https://x.invalid/y"}, key
    )
    assert token_env.get(credentials.bearer(other)).status == 403


def test_a_token_of_nested_brackets_is_a_403_through_the_gateway(token_env: Env) -> None:
    """Issue 17: "the token authorizer answers 500 (RecursionError) to a 6.7 KB token of nested
    brackets; each one feeds the 5XX alarm and, during a bake, a rollback". Through API Gateway,
    in the header and in a payload signed with the environment's own key: a Deny (403)."""
    # R-AUTH-1, R-SEC-2
    import base64
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    key = tokens.read_key(token_env.clients, token_env.spec.names)
    head, body = b64(b'{"alg":"HS256","typ":"JWT"}'), b64(b"[" * 5000)
    signed = f"{head}.{body}.{b64(hmac.new(key, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"
    for token in (f"{b64(b'[' * 5000)}.e30.AA", signed):
        answer = token_env.get(credentials.bearer(token))
        assert answer.status == 403, (answer.status, answer.body[:200])


def test_token_mode_broken_authorization_fails_the_refusal_checks(
    token_env: Env, local_cloud: LocalCloud
) -> None:
    # R-AUTH-1, R-AUTH-2, R-AUTH-3
    _broken_then_repaired(token_env, local_cloud, "token")


# --- cognito ---------------------------------------------------------------------------------
def test_cognito_mode_verifies_and_refuses_another_pools_token(
    cognito_env: Env, local_cloud: LocalCloud
) -> None:
    # R-AUTH-1, R-AUTH-2, R-AUTH-3
    _passes_with_its_refusals(cognito_env, "cognito")
    cognito = local_cloud.client("cognito-idp")
    # no verification user is left behind
    pool_id = cognito_env.outputs["user_pool_id"]
    assert cognito.list_users(UserPoolId=pool_id)["Users"] == []
    # a real token from another pool, with the same claims shape
    other = cognito.create_user_pool(PoolName="e2e-other-pool")["UserPool"]["Id"]
    try:
        client = cognito.create_user_pool_client(
            UserPoolId=other, ClientName="other", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
        cognito.admin_create_user(UserPoolId=other, Username="mallory", MessageAction="SUPPRESS")
        cognito.admin_set_user_password(
            UserPoolId=other, Username="mallory", Password="Aa1!" * 4, Permanent=True
        )
        result = cognito.admin_initiate_auth(
            UserPoolId=other,
            ClientId=client,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "mallory", "PASSWORD": "Aa1!" * 4},
        )["AuthenticationResult"]
        refused = cognito_env.get(credentials.bearer(result["IdToken"]))
        assert (refused.status, refused.json()) == (401, {"message": "Unauthorized"})
        assert refused.header("Access-Control-Allow-Origin") == "*"  # R-AUTH-2
    finally:
        cognito.delete_user_pool(UserPoolId=other)


def test_cognito_mode_broken_authorization_fails_the_refusal_checks(
    cognito_env: Env, local_cloud: LocalCloud
) -> None:
    # R-AUTH-1, R-AUTH-2, R-AUTH-3
    _broken_then_repaired(cognito_env, local_cloud, "cognito")


def test_cognito_access_tokens_pass_once_the_methods_name_their_scope(cognito_env: Env) -> None:
    # R-AUTH-1, R-AUTH-3: with cognito_token_use=access the methods name the access token's scope
    spec = build_spec(
        suffix=cognito_env.spec.suffix,
        stage="dev",
        overrides={"auth": "cognito", "cognito_token_use": "access"},
    )
    result = Engine(spec, cognito_env.target).apply()
    assert result.ok, result.error
    access = Env(spec, cognito_env.target, result.outputs)
    _passes_with_its_refusals(access, "cognito")
    # an ID token is no longer what the methods take
    creds = credentials.for_mode(cognito_env.spec, cognito_env.clients)  # the ID-token flavour
    try:
        assert access.get(creds.valid).status == 401
    finally:
        creds.cleanup()


# --- iam -------------------------------------------------------------------------------------
def test_iam_mode_verifies_and_refuses_an_unsigned_request(iam_env: Env, local_cloud: LocalCloud) -> None:
    # R-AUTH-1, R-AUTH-2, R-AUTH-3
    _passes_with_its_refusals(iam_env, "iam")
    unsigned = iam_env.get(credentials.no_credential)
    assert (unsigned.status, unsigned.json()) == (403, {"message": "Missing Authentication Token"})
    signed = iam_env.get(credentials.sigv4(iam_env.clients.credentials(), iam_env.spec.region))
    assert signed.status == 200


def test_iam_mode_broken_authorization_fails_the_refusal_checks(
    iam_env: Env, local_cloud: LocalCloud
) -> None:
    # R-AUTH-1, R-AUTH-2, R-AUTH-3
    _broken_then_repaired(iam_env, local_cloud, "iam")
