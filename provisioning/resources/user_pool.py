"""The `cognito` mode's user pool and app client, managed by envport (R-AUTH-1).

Users are made by administrators only (no self sign-up), passwords follow a strict policy, and
the one app client has no secret and exactly the auth flows a client and the verification
journey need: USER_PASSWORD_AUTH (a client), ADMIN_USER_PASSWORD_AUTH (the journey, with the
engine's credentials) and REFRESH_TOKEN_AUTH. Its tokens live an hour, refresh tokens a day.

A pool is found by name AND the environment's tags (pool names are not unique). Update calls
replace every setting they do not name with its default, so they are sent whole.
"""

from __future__ import annotations

from typing import Any

from ..aws import tolerating_absent
from .base import MISSING, PRESENT, Context, FieldDiff, Observed, Resource, is_ours, sync_tags, user_tags

PASSWORD_POLICY = {
    "MinimumLength": 14,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 1,
}
AUTH_FLOWS = ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
TOKEN_UNITS = {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"}
ACCESS_TOKEN_MINUTES = 60
ID_TOKEN_MINUTES = 60
REFRESH_TOKEN_DAYS = 1
# The scope every access token from the user-password flows carries: what a method must name for
# API Gateway to accept access tokens (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-enable-cognito-user-pool.html).
ACCESS_SCOPE = "aws.cognito.signin.user.admin"
NOT_FOUND = "ResourceNotFoundException"


def cognito_mode(ctx: Context) -> bool:
    return ctx.spec.settings.auth == "cognito"


def find_pool(ctx: Context) -> dict[str, Any] | None:
    """The pool with this environment's name and tags (described), or None."""
    client = ctx.client("cognito-idp")
    token: str | None = None
    while True:
        page = client.list_user_pools(MaxResults=60, **({"NextToken": token} if token else {}))
        for item in page.get("UserPools", []):
            if item.get("Name") != ctx.names.user_pool:
                continue
            pool = client.describe_user_pool(UserPoolId=item["Id"])["UserPool"]
            if is_ours(ctx, pool.get("UserPoolTags")):
                return dict(pool)
        token = page.get("NextToken")
        if not token:
            return None


def find_client(ctx: Context, pool_id: str) -> dict[str, Any] | None:
    cognito = ctx.client("cognito-idp")
    token: str | None = None
    while True:
        page = cognito.list_user_pool_clients(
            UserPoolId=pool_id, MaxResults=60, **({"NextToken": token} if token else {})
        )
        for item in page.get("UserPoolClients", []):
            if item.get("ClientName") == ctx.names.user_pool_client:
                described = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=item["ClientId"])
                return dict(described["UserPoolClient"])
        token = page.get("NextToken")
        if not token:
            return None


class UserPool(Resource):
    key = "user_pool"
    kind = "cognito-idp-user-pool"

    def name(self, ctx: Context) -> str:
        """The pool and its app client."""
        return f"{ctx.names.user_pool} (client {ctx.names.user_pool_client})"

    def wanted(self, ctx: Context) -> bool:
        return cognito_mode(ctx)

    def observe(self, ctx: Context) -> Observed | None:
        pool = find_pool(ctx)
        if pool is None:
            return None
        policy = (pool.get("Policies") or {}).get("PasswordPolicy") or {}
        state: dict[str, Any] = {
            **{f"PasswordPolicy.{k}": policy.get(k, MISSING) for k in PASSWORD_POLICY},
            "AllowAdminCreateUserOnly": (pool.get("AdminCreateUserConfig") or {}).get(
                "AllowAdminCreateUserOnly", False
            ),
            "tags": user_tags(pool.get("UserPoolTags")),
        }
        client = find_client(ctx, pool["Id"])
        attrs = {"id": pool["Id"], "arn": pool.get("Arn") or self._arn(ctx, pool["Id"]), "client_id": None}
        if client is None:
            state["client"] = MISSING
        else:
            attrs["client_id"] = client["ClientId"]
            state.update(_client_state(client))
        return Observed(state, attrs)

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            **{f"PasswordPolicy.{k}": v for k, v in PASSWORD_POLICY.items()},
            "AllowAdminCreateUserOnly": True,
            "tags": ctx.tag_dict,
            "client": PRESENT,
            "client.ExplicitAuthFlows": list(AUTH_FLOWS),
            "client.AccessTokenValidity": ACCESS_TOKEN_MINUTES,
            "client.IdTokenValidity": ID_TOKEN_MINUTES,
            "client.RefreshTokenValidity": REFRESH_TOKEN_DAYS,
            "client.TokenValidityUnits": dict(TOKEN_UNITS),
            "client.PreventUserExistenceErrors": "ENABLED",
            "client.secret": False,
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        pool = ctx.client("cognito-idp").create_user_pool(
            PoolName=ctx.names.user_pool, UserPoolTags=ctx.tag_dict, **_pool_settings()
        )["UserPool"]
        client_id = self._create_client(ctx, pool["Id"])
        return {
            "id": pool["Id"],
            "arn": pool.get("Arn") or self._arn(ctx, pool["Id"]),
            "client_id": client_id,
        }

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        cognito = ctx.client("cognito-idp")
        attrs = dict(observed.attrs)
        changed = {d.field for d in diffs}
        if any(f.startswith("PasswordPolicy.") or f == "AllowAdminCreateUserOnly" for f in changed):
            cognito.update_user_pool(UserPoolId=attrs["id"], UserPoolTags=ctx.tag_dict, **_pool_settings())
        elif "tags" in changed:
            sync_tags(
                observed,
                desired,
                cognito.tag_resource,
                cognito.untag_resource,
                ResourceArn=attrs["arn"],
                tags_as=dict,
            )
        if "client" in changed or "client.secret" in changed:
            if attrs.get("client_id"):  # a client with a secret cannot lose it: replace it
                cognito.delete_user_pool_client(UserPoolId=attrs["id"], ClientId=attrs["client_id"])
            attrs["client_id"] = self._create_client(ctx, attrs["id"])
        elif any(f.startswith("client.") for f in changed):
            cognito.update_user_pool_client(
                UserPoolId=attrs["id"],
                ClientId=attrs["client_id"],
                ClientName=ctx.names.user_pool_client,
                **_client_settings(),
            )
        return attrs

    def delete(self, ctx: Context, observed: Observed) -> None:
        """Deleting the pool deletes its client and users (and the journey's, if any was left)."""
        with tolerating_absent(NOT_FOUND):
            ctx.client("cognito-idp").delete_user_pool(UserPoolId=observed.attrs["id"])

    def _create_client(self, ctx: Context, pool_id: str) -> str:
        made = ctx.client("cognito-idp").create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=ctx.names.user_pool_client,
            GenerateSecret=False,
            **_client_settings(),
        )
        return str(made["UserPoolClient"]["ClientId"])

    def _arn(self, ctx: Context, pool_id: str) -> str:
        return ctx.arn("cognito-idp", f"userpool/{pool_id}")

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"user_pool_id": attrs.get("id"), "user_pool_client_id": attrs.get("client_id")}


def _pool_settings() -> dict[str, Any]:
    return {
        "Policies": {"PasswordPolicy": dict(PASSWORD_POLICY)},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "MfaConfiguration": "OFF",
    }


def _client_settings() -> dict[str, Any]:
    return {
        "ExplicitAuthFlows": list(AUTH_FLOWS),
        "AccessTokenValidity": ACCESS_TOKEN_MINUTES,
        "IdTokenValidity": ID_TOKEN_MINUTES,
        "RefreshTokenValidity": REFRESH_TOKEN_DAYS,
        "TokenValidityUnits": dict(TOKEN_UNITS),
        "PreventUserExistenceErrors": "ENABLED",
    }


def _client_state(client: dict[str, Any]) -> dict[str, Any]:
    return {
        "client": PRESENT,
        "client.ExplicitAuthFlows": sorted(client.get("ExplicitAuthFlows") or []),
        "client.AccessTokenValidity": client.get("AccessTokenValidity", MISSING),
        "client.IdTokenValidity": client.get("IdTokenValidity", MISSING),
        "client.RefreshTokenValidity": client.get("RefreshTokenValidity", MISSING),
        "client.TokenValidityUnits": dict(client.get("TokenValidityUnits") or {}),
        "client.PreventUserExistenceErrors": client.get("PreventUserExistenceErrors", MISSING),
        "client.secret": bool(client.get("ClientSecret")),
    }
