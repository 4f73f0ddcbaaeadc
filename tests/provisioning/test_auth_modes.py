"""R-AUTH-1/2: each authorization mode's resources against moto, plan and drift knowing their
fields, a mode switch converging, teardown removing them all, and the spec's validation."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from provisioning import tokens
from provisioning.aws import AwsClients
from provisioning.engine import Engine
from provisioning.resources.rest_api_parts import IDENTITY_SOURCE
from provisioning.resources.user_pool import ACCESS_SCOPE, AUTH_FLOWS
from provisioning.spec import EnvironmentSpec, SpecError, build_spec

REGION = "us-east-1"
CRUD = {
    ("GET", "/items"),
    ("POST", "/items"),
    ("GET", "/items/{id}"),
    ("PUT", "/items/{id}"),
    ("DELETE", "/items/{id}"),
}


def _spec(mode: str, **overrides: Any) -> EnvironmentSpec:
    return build_spec(suffix="auth1", stage="dev", overrides={"auth": mode, **overrides})


def _engine(spec: EnvironmentSpec, aws: AwsClients) -> Engine:
    return Engine(spec, clients=aws, sleep=lambda _s: None)


def _c(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _api_id() -> str:
    return next(a["id"] for a in _c("apigateway").get_rest_apis()["items"] if a["name"] == "envport-auth1")


def _methods(api_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    resources = _c("apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]
    return {
        (verb, r["path"]): method
        for r in resources
        for verb, method in (r.get("resourceMethods") or {}).items()
    }


def _authorizers(api_id: str) -> list[dict[str, Any]]:
    return list(_c("apigateway").get_authorizers(restApiId=api_id)["items"])


def _functions() -> set[str]:
    return {f["FunctionName"] for f in _c("lambda").list_functions()["Functions"]}


# --- spec ------------------------------------------------------------------------------------
def test_auth_defaults_to_api_key_on_every_stage() -> None:
    for stage in ("dev", "staging", "prod"):
        settings = build_spec(suffix="auth1", stage=stage).settings
        assert (settings.auth, settings.auth_ttl_s, settings.cognito_token_use) == ("api_key", 300, "id")


def test_auth_settings_are_parsed_like_every_other_override() -> None:
    spec = _spec(" Token ", auth_ttl_s="0", cognito_token_use="ACCESS")
    assert (spec.settings.auth, spec.settings.auth_ttl_s, spec.settings.cognito_token_use) == (
        "token",
        0,
        "access",
    )
    assert dict(spec.overrides)["auth"] == "token"


def test_bad_auth_settings_are_refused_together_before_any_call() -> None:
    with pytest.raises(SpecError) as caught:
        build_spec(
            suffix="auth1",
            stage="dev",
            overrides={"auth": "oauth", "auth_ttl_s": 3601, "cognito_token_use": "refresh"},
        )
    problems = {p.field: p.allowed for p in caught.value.problems}
    assert problems == {
        "auth": "one of api_key, token, cognito, iam",
        "auth_ttl_s": "an integer from 0 to 3600",
        "cognito_token_use": "one of id, access",
    }


# --- token -----------------------------------------------------------------------------------
@pytest.mark.heavy
def test_token_mode_makes_the_authorizer_its_key_role_and_permission(
    mocked_aws: None, aws: AwsClients
) -> None:
    # R-AUTH-1
    result = _engine(_spec("token", auth_ttl_s=120), aws).apply()
    assert result.ok, result.error
    api_id = _api_id()
    (authorizer,) = _authorizers(api_id)
    assert authorizer["name"] == "envport-auth1-token" and authorizer["type"] == "TOKEN"
    assert authorizer["identitySource"] == IDENTITY_SOURCE
    assert authorizer["authorizerResultTtlInSeconds"] == 120
    assert authorizer["authorizerUri"].endswith(
        ":function:envport-auth1-authorizer/invocations"
    ) and authorizer["authorizerUri"].startswith(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    )
    methods = _methods(api_id)
    for key in CRUD:
        assert methods[key]["authorizationType"] == "CUSTOM", key
        assert methods[key]["authorizerId"] == authorizer["id"]
        assert methods[key]["apiKeyRequired"] is True  # R-API-2 beside the authorizer
    for path in ("/items", "/items/{id}"):
        assert methods[("OPTIONS", path)]["authorizationType"] == "NONE"
    # the authorizer function: its own artifact, role, log group and environment
    config = _c("lambda").get_function(FunctionName="envport-auth1-authorizer")["Configuration"]
    assert config["Handler"] == "authorizer_bundle.handler.lambda_handler"
    assert config["Role"].endswith(":role/envport-auth1-authz-role")
    assert config["LoggingConfig"]["LogGroup"] == "/aws/lambda/envport-auth1-authorizer"
    secret = _c("secretsmanager").describe_secret(SecretId="envport-auth1/token-signing-key")
    assert config["Environment"]["Variables"] == {
        "SIGNING_SECRET_ARN": secret["ARN"],
        "TOKEN_ISSUER": "https://envport.invalid/auth1",
        "TOKEN_AUDIENCE": "envport-auth1-api",
    }
    assert secret["KmsKeyId"] == result.outputs.get("kms_key_arn", secret["KmsKeyId"])
    # the role: exactly its log group, its secret, and the key only through Secrets Manager
    document = _c("iam").get_role_policy(
        RoleName="envport-auth1-authz-role", PolicyName="envport-auth1-authz-access"
    )["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert set(by_sid) == {
        "WriteOwnLogStreamsGroupIsPreCreated",
        "ReadOwnSigningKey",
        "DecryptSigningKeyOnlyViaSecretsManager",
    }
    assert by_sid["ReadOwnSigningKey"]["Resource"] == [secret["ARN"]]
    assert by_sid["ReadOwnSigningKey"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert by_sid["DecryptSigningKeyOnlyViaSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }
    # the permission: this API's authorizer only
    policy = json.loads(_c("lambda").get_policy(FunctionName="envport-auth1-authorizer")["Policy"])
    (statement,) = policy["Statement"]
    source = statement["Condition"]["ArnLike"]["AWS:SourceArn"]
    assert source == f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/authorizers/{authorizer['id']}"
    # R-AUTH-2: the authorizers' refusals carry the CORS headers
    responses = {
        r["responseType"]: r for r in _c("apigateway").get_gateway_responses(restApiId=api_id)["items"]
    }
    for rtype in ("UNAUTHORIZED", "ACCESS_DENIED"):
        params = responses[rtype]["responseParameters"]
        assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
        assert "Authorization" in params["gatewayresponse.header.Access-Control-Allow-Headers"]
    # a token the engine mints verifies with the key in the secret
    token = tokens.mint(aws, _spec("token").names, subject="alice", ttl_s=60)
    assert token.count(".") == 2
    again = _engine(_spec("token", auth_ttl_s=120), aws).apply()
    assert again.calls.mutating == 0, again.calls.by_operation


@pytest.mark.heavy
def test_drift_finds_a_changed_authorizer_ttl_and_apply_repairs_it(mocked_aws: None, aws: AwsClients) -> None:
    # R-AUTH-1, R-OPS-2: the TTL is a field plan and drift know
    spec = _spec("token")
    assert _engine(spec, aws).apply().ok
    api_id = _api_id()
    (authorizer,) = _authorizers(api_id)
    _c("apigateway").update_authorizer(
        restApiId=api_id,
        authorizerId=authorizer["id"],
        patchOperations=[{"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "3600"}],
    )
    drift = _engine(spec, aws).drift()
    assert [(f.resource, f.field, f.wanted, f.found) for f in drift.findings] == [
        ("rest_api", "authorizer:envport-auth1-token.authorizerResultTtlInSeconds", 300, 3600)
    ]
    repaired = _engine(spec, aws).apply()
    assert repaired.ok, repaired.error
    assert repaired.calls.by_operation.get("apigateway.UpdateAuthorizer") == 1
    assert repaired.calls.by_operation.get("apigateway.CreateDeployment") == 1  # authorizers are deployed
    assert _authorizers(api_id)[0]["authorizerResultTtlInSeconds"] == 300
    assert _engine(spec, aws).drift().findings == []


@pytest.mark.heavy
def test_drift_finds_a_method_whose_authorizer_was_taken_off(mocked_aws: None, aws: AwsClients) -> None:
    spec = _spec("token")
    assert _engine(spec, aws).apply().ok
    api_id = _api_id()
    resource_id = next(
        r["id"] for r in _c("apigateway").get_resources(restApiId=api_id)["items"] if r["path"] == "/items"
    )
    _c("apigateway").update_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="GET",
        patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "NONE"},
            {"op": "replace", "path": "/authorizerId", "value": ""},
        ],
    )
    fields = {(f.field, f.wanted, f.found) for f in _engine(spec, aws).drift().findings}
    assert fields == {
        ("method:GET /items.authorizationType", "CUSTOM", "NONE"),
        ("method:GET /items.authorizer", "envport-auth1-token", "(missing)"),
    }
    assert _engine(spec, aws).apply().ok
    assert _methods(api_id)[("GET", "/items")]["authorizationType"] == "CUSTOM"
    assert _engine(spec, aws).drift().findings == []


# --- cognito ---------------------------------------------------------------------------------
@pytest.mark.heavy
def test_cognito_mode_makes_a_pool_a_client_and_a_user_pool_authorizer(
    mocked_aws: None, aws: AwsClients
) -> None:
    # R-AUTH-1
    result = _engine(_spec("cognito"), aws).apply()
    assert result.ok, result.error
    pool_id, client_id = result.outputs["user_pool_id"], result.outputs["user_pool_client_id"]
    pool = _c("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 14
    client = _c("cognito-idp").describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)[
        "UserPoolClient"
    ]
    assert sorted(client["ExplicitAuthFlows"]) == AUTH_FLOWS and "ClientSecret" not in client
    api_id = _api_id()
    (authorizer,) = _authorizers(api_id)
    assert authorizer["type"] == "COGNITO_USER_POOLS" and authorizer["providerARNs"] == [pool["Arn"]]
    methods = _methods(api_id)
    for key in CRUD:
        assert methods[key]["authorizationType"] == "COGNITO_USER_POOLS"
        assert methods[key]["authorizerId"] == authorizer["id"]
        assert not methods[key].get("authorizationScopes")  # ID tokens: no scopes on the method
    # Access tokens: API Gateway accepts them only on a method that names one of their scopes.
    changed = _engine(_spec("cognito", cognito_token_use="access"), aws).apply()
    assert changed.ok, changed.error
    for key in CRUD:
        assert _methods(api_id)[key]["authorizationScopes"] == [ACCESS_SCOPE]
    assert _engine(_spec("cognito", cognito_token_use="access"), aws).drift().findings == []


@pytest.mark.heavy
def test_a_pool_setting_changed_out_of_band_is_drift_and_repaired(mocked_aws: None, aws: AwsClients) -> None:
    spec = _spec("cognito")
    pool_id = _engine(spec, aws).apply().outputs["user_pool_id"]
    _c("cognito-idp").update_user_pool(
        UserPoolId=pool_id,
        Policies={"PasswordPolicy": {"MinimumLength": 6}},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},
        UserPoolTags={"Environment": "auth1", "ManagedBy": "envport", "Project": "envport", "Stage": "dev"},
    )
    fields = {f.field for f in _engine(spec, aws).drift().findings}
    assert {"PasswordPolicy.MinimumLength", "AllowAdminCreateUserOnly"} <= fields
    assert _engine(spec, aws).apply().ok
    assert _engine(spec, aws).drift().findings == []


# --- iam, switching and teardown ------------------------------------------------------------
@pytest.mark.heavy
def test_switching_modes_converges_and_teardown_removes_every_auth_resource(
    mocked_aws: None, aws: AwsClients
) -> None:
    # R-AUTH-1, R-OPS-4: the old mode's resources go in the same apply that brings the new one
    assert _engine(_spec("token"), aws).apply().ok
    api_id = _api_id()
    assert "envport-auth1-authorizer" in _functions()

    to_iam = _engine(_spec("iam"), aws).apply()
    assert to_iam.ok, to_iam.error
    deleted = {s.resource for s in to_iam.steps if s.action == "delete"}
    # in teardown's order: the permission, then its function, then the role and the secret
    assert deleted == {
        "signing_secret",
        "authorizer_log_group",
        "authorizer_role",
        "authorizer_function",
        "authorizer_permission",
    }
    order = [s.resource for s in to_iam.steps]
    assert order.index("authorizer_permission") < order.index("authorizer_function")
    assert order.index("authorizer_function") < order.index("authorizer_role") < order.index("signing_secret")
    assert _authorizers(api_id) == []
    methods = _methods(api_id)
    for key in CRUD:
        assert methods[key]["authorizationType"] == "AWS_IAM" and not methods[key].get("authorizerId")
    assert "envport-auth1-authorizer" not in _functions()
    assert _c("secretsmanager").list_secrets()["SecretList"] == []
    assert _engine(_spec("iam"), aws).drift().findings == []

    assert _engine(_spec("cognito"), aws).apply().ok
    assert [a["type"] for a in _authorizers(api_id)] == ["COGNITO_USER_POOLS"]
    back = _engine(_spec("api_key"), aws).apply()
    assert back.ok, back.error
    assert {s.resource for s in back.steps if s.action == "delete"} == {"user_pool"}
    assert _authorizers(api_id) == []
    assert all(m["authorizationType"] == "NONE" for m in _methods(api_id).values())

    assert _engine(_spec("cognito"), aws).apply().ok
    assert _engine(_spec("token"), aws).apply().ok  # cognito -> token: the pool goes
    destroyed = _engine(_spec("token"), aws).destroy()
    assert destroyed.ok, destroyed.error
    assert _c("cognito-idp").list_user_pools(MaxResults=60)["UserPools"] == []
    assert _c("secretsmanager").list_secrets()["SecretList"] == []
    assert _functions() == set()
    roles = {r["RoleName"] for r in _c("iam").list_roles()["Roles"]}
    assert not {"envport-auth1-authz-role", "envport-auth1-fn-role"} & roles


@pytest.mark.heavy
def test_plan_shows_what_a_mode_switch_would_do_without_doing_it(mocked_aws: None, aws: AwsClients) -> None:
    assert _engine(_spec("api_key"), aws).apply().ok
    plan = _engine(_spec("token"), aws).plan()
    assert plan.calls.mutating == 0
    creates = {s.resource for s in plan.steps if s.action == "create"}
    assert creates == {
        "signing_secret",
        "authorizer_log_group",
        "authorizer_role",
        "authorizer_function",
        "authorizer_permission",
    }
    fields = {f.field for f in plan.findings if f.resource == "rest_api"}
    assert "authorizer:envport-auth1-token" in fields
    assert (
        "method:GET /items.authorizationType" in fields
        and "method:OPTIONS /items.authorizationType" not in fields
    )


@pytest.mark.heavy
def test_signing_key_is_never_read_back_into_a_plan(mocked_aws: None, aws: AwsClients) -> None:
    """The key is generated on create and kept in the secret only: no plan, drift or output holds it."""
    spec = _spec("token")
    result = _engine(spec, aws).apply()
    assert result.ok, result.error
    value = _c("secretsmanager").get_secret_value(SecretId=spec.names.signing_secret)["SecretString"]
    key = json.loads(value)["key"]
    assert len(tokens.key_from_document(value)) == 32
    for run in (result, _engine(spec, aws).plan(), _engine(spec, aws).drift()):
        assert key not in json.dumps(run.to_dict(), default=str)


def test_mint_refuses_an_environment_without_a_signing_key(mocked_aws: None, aws: AwsClients) -> None:
    with pytest.raises(tokens.NoSigningKey, match="not provisioned in token mode"):
        tokens.mint(aws, _spec("token").names, subject="x", ttl_s=60)
    with pytest.raises(ValueError, match="1 to 86400"):
        tokens.mint(aws, _spec("token").names, subject="x", ttl_s=0)
