"""The `token` mode's Lambda TOKEN authorizer: a second function, its role, log group and the
permission that lets the API's authorizer (and only it) invoke it (R-AUTH-1).

The function runs `authorizer_bundle/` (built by the same artifact pipeline as the CRUD
function, stored in the same bucket by SHA-256). Its role grants exactly what the handler does:
write its own log streams, read its own signing key, and decrypt it with the environment's key
only through Secrets Manager. In every other mode none of these exist: `wanted` is false and a
switch away from `token` deletes them.
"""

from __future__ import annotations

import json
from typing import Any

from ..artifacts import authorizer_artifact, code_sha256, upload_artifact
from ..aws import error_code
from .base import MISSING, UNKNOWN, Context, FieldDiff, Observed, Resource, repair_tags, user_tags
from .function import ARCHITECTURES, LOGGING_FIELDS, RUNTIME, _config_params, _retrying, _wait_ready
from .log_group import LogGroup
from .permission import ACTION, PRINCIPAL, statement_fields
from .role import FunctionRole, _allow
from .signing_secret import token_mode

MEMORY_MB = 128
TIMEOUT_S = 5  # API Gateway waits at most 10 s for an authorizer; verifying an HMAC takes microseconds


def authorizer_arn(ctx: Context) -> str:
    return ctx.arn("lambda", f"function:{ctx.names.authorizer_function}")


class AuthorizerLogGroup(LogGroup):
    def __init__(self) -> None:
        super().__init__("authorizer_log_group", lambda n: n.authorizer_log_group)

    def wanted(self, ctx: Context) -> bool:
        return token_mode(ctx)


class AuthorizerRole(FunctionRole):
    key = "authorizer_role"
    depends_on = ("kms_key", "signing_secret")

    def wanted(self, ctx: Context) -> bool:
        return token_mode(ctx)

    def role_name(self, ctx: Context) -> str:
        return ctx.names.authorizer_role

    def policy_name(self, ctx: Context) -> str:
        return ctx.names.authorizer_policy

    def function_name(self, ctx: Context) -> str:
        return ctx.names.authorizer_function

    def statements(self, ctx: Context) -> list[dict[str, Any]]:
        log_group = ctx.log_group_arn(ctx.names.authorizer_log_group)
        decrypt = _allow("DecryptSigningKeyOnlyViaSecretsManager", ("kms:Decrypt",), [ctx.kms_key_arn])
        decrypt["Condition"] = {
            "StringEquals": {"kms:ViaService": f"secretsmanager.{ctx.region}.amazonaws.com"}
        }
        return [
            _allow(
                "WriteOwnLogStreamsGroupIsPreCreated",
                ("logs:CreateLogStream", "logs:PutLogEvents"),
                [log_group, f"{log_group}:*"],
            ),
            _allow(
                "ReadOwnSigningKey", ("secretsmanager:GetSecretValue",), [ctx.attr("signing_secret", "arn")]
            ),
            decrypt,
        ]


class AuthorizerFunction(Resource):
    key = "authorizer_function"
    kind = "lambda-function"
    depends_on = ("authorizer_role", "authorizer_log_group", "signing_secret", "artifact_bucket")

    def wanted(self, ctx: Context) -> bool:
        return token_mode(ctx)

    def observe(self, ctx: Context) -> Observed | None:
        try:
            response = ctx.client("lambda").get_function(FunctionName=ctx.names.authorizer_function)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        config = response["Configuration"]
        logging_config = config.get("LoggingConfig") or {}
        state: dict[str, Any] = {
            "Runtime": config.get("Runtime", MISSING),
            "Architectures": config.get("Architectures", ["x86_64"]),
            "Handler": config.get("Handler", MISSING),
            "Role": config.get("Role", MISSING),
            "MemorySize": config.get("MemorySize", MISSING),
            "Timeout": config.get("Timeout", MISSING),
            "Environment.Variables": (config.get("Environment") or {}).get("Variables", {}),
            **{f"LoggingConfig.{name}": logging_config.get(name, MISSING) for name in LOGGING_FIELDS},
            "CodeSha256": config.get("CodeSha256", MISSING),
            "tags": user_tags(response.get("Tags")),
        }
        return Observed(state, {"arn": config["FunctionArn"], "name": config["FunctionName"]})

    def desired(self, ctx: Context) -> dict[str, Any]:
        names = ctx.names
        artifact = authorizer_artifact()
        return {
            "Runtime": RUNTIME,
            "Architectures": list(ARCHITECTURES),
            "Handler": artifact.handler,
            "Role": ctx.arn("iam", f"role/{names.authorizer_role}", region=""),
            "MemorySize": MEMORY_MB,
            "Timeout": TIMEOUT_S,
            "Environment.Variables": {
                "SIGNING_SECRET_ARN": ctx.attr("signing_secret", "arn"),
                "TOKEN_ISSUER": names.token_issuer,
                "TOKEN_AUDIENCE": names.token_audience,
            },
            "LoggingConfig.LogFormat": "JSON",
            "LoggingConfig.LogGroup": names.authorizer_log_group,
            "LoggingConfig.ApplicationLogLevel": "INFO",
            "LoggingConfig.SystemLogLevel": "INFO",
            "CodeSha256": code_sha256(artifact.sha256),
            "tags": ctx.tag_dict,
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["Environment.Variables"]["SIGNING_SECRET_ARN"] == UNKNOWN:
            raise RuntimeError(
                "authorizer_function: the signing secret is unknown; converge signing_secret first"
            )
        name = ctx.names.authorizer_function
        params: dict[str, Any] = {
            "FunctionName": name,
            "Code": upload_artifact(ctx.aws, authorizer_artifact()).code(),
            "Architectures": desired["Architectures"],
            "Publish": False,
            "Tags": desired["tags"],
            **_config_params(desired, set(desired)),
        }
        client = ctx.client("lambda")
        config = _retrying(ctx, lambda: client.create_function(**params))
        _wait_ready(ctx, name)
        return {"arn": config["FunctionArn"], "name": name}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        client, name = ctx.client("lambda"), ctx.names.authorizer_function
        changed = {d.field for d in diffs}
        params = _config_params(desired, changed)
        if params:
            _retrying(ctx, lambda: client.update_function_configuration(FunctionName=name, **params))
            _wait_ready(ctx, name)
        if changed & {"CodeSha256", "Architectures"}:
            code = {"FunctionName": name, **upload_artifact(ctx.aws, authorizer_artifact()).code()}
            code["Architectures"] = desired["Architectures"]
            _retrying(ctx, lambda: client.update_function_code(**code))
            _wait_ready(ctx, name)
        if "tags" in changed:
            arn = observed.attrs["arn"]
            repair_tags(
                observed.state.get("tags"),
                desired["tags"],
                tag=lambda tags: client.tag_resource(Resource=arn, Tags=tags),
                untag=lambda keys: client.untag_resource(Resource=arn, TagKeys=keys),
            )
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        try:
            ctx.client("lambda").delete_function(FunctionName=ctx.names.authorizer_function)
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise


class AuthorizerPermission(Resource):
    """API Gateway may invoke the authorizer only as this API's authorizer:
    SourceArn `arn:aws:execute-api:REGION:ACCOUNT:API_ID/authorizers/AUTHORIZER_ID`."""

    key = "authorizer_permission"
    kind = "lambda-permission"
    depends_on = ("authorizer_function", "rest_api")

    def wanted(self, ctx: Context) -> bool:
        return token_mode(ctx)

    def observe(self, ctx: Context) -> Observed | None:
        try:
            policy = ctx.client("lambda").get_policy(FunctionName=ctx.names.authorizer_function)["Policy"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
        sid = ctx.names.authorizer_permission_sid
        statement = next((s for s in json.loads(policy).get("Statement", []) if s.get("Sid") == sid), None)
        if statement is None:
            return None
        return Observed({**statement_fields(statement), "Resource": statement.get("Resource")}, {"sid": sid})

    def source_arn(self, ctx: Context) -> str:
        execution_arn = ctx.attr("rest_api", "execution_arn")
        authorizer_id = ctx.attr("rest_api", "authorizer_id")
        if UNKNOWN in (execution_arn, authorizer_id) or not authorizer_id:
            return UNKNOWN
        return f"{execution_arn}/authorizers/{authorizer_id}"

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "Effect": "Allow",
            "Action": ACTION,
            "Principal": PRINCIPAL,
            "SourceArn": self.source_arn(ctx),
            "SourceAccount": ctx.account_id,
            "Resource": authorizer_arn(ctx),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["SourceArn"] == UNKNOWN:
            raise RuntimeError(
                "authorizer_permission: the API's authorizer is unknown; converge rest_api first"
            )
        ctx.client("lambda").add_permission(
            FunctionName=ctx.names.authorizer_function,
            StatementId=ctx.names.authorizer_permission_sid,
            Action=ACTION,
            Principal=PRINCIPAL,
            SourceArn=desired["SourceArn"],
            SourceAccount=ctx.account_id,
        )
        return {"sid": ctx.names.authorizer_permission_sid}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        self.delete(ctx, observed)  # Lambda has no call that edits a statement
        return self.create(ctx, desired)

    def delete(self, ctx: Context, observed: Observed) -> None:
        try:
            ctx.client("lambda").remove_permission(
                FunctionName=ctx.names.authorizer_function, StatementId=ctx.names.authorizer_permission_sid
            )
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
