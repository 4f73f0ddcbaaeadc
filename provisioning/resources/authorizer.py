"""The `token` mode's Lambda TOKEN authorizer: a second function, its role, log group and the
permission that lets the API's authorizer (and only it) invoke it (R-AUTH-1).

Each is an instance of the one implementation of its AWS type (`Function`, `FunctionRole`,
`LogGroup`, `InvokePermission`); this module says only what is the authorizer's own. The
function runs `authorizer_bundle/` (built by the same artifact pipeline as the CRUD function,
stored in the same bucket by SHA-256). Its role grants exactly what the handler does: write its
own log streams, read its own signing key, and decrypt it with the environment's key only
through Secrets Manager. In every other mode none of these exist: `wanted` is false and a switch
away from `token` deletes them.
"""

from __future__ import annotations

from typing import Any

from ..artifacts import authorizer_artifact
from .base import UNKNOWN, Context, Resource
from .function import Function, FunctionCode, FunctionInstance, FunctionSettings
from .log_group import LogGroup, LogGroupInstance
from .permission import InvokePermission, PermissionInstance
from .role import FunctionRole, RoleInstance, allow
from .signing_secret import token_mode

MEMORY_MB = 128
TIMEOUT_S = 5  # API Gateway waits at most 10 s for an authorizer; verifying an HMAC takes microseconds


def authorizer_arn(ctx: Context) -> str:
    return ctx.arn("lambda", f"function:{ctx.names.authorizer_function}")


def authorizer_statements(ctx: Context) -> list[dict[str, Any]]:
    """Its role's policy: its own log streams, its own signing key, the key only via Secrets Manager."""
    log_group = ctx.log_group_arn(ctx.names.authorizer_log_group)
    decrypt = allow("DecryptSigningKeyOnlyViaSecretsManager", ("kms:Decrypt",), [ctx.kms_key_arn])
    decrypt["Condition"] = {"StringEquals": {"kms:ViaService": f"secretsmanager.{ctx.region}.amazonaws.com"}}
    return [
        allow(
            "WriteOwnLogStreamsGroupIsPreCreated",
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            [log_group, f"{log_group}:*"],
        ),
        allow("ReadOwnSigningKey", ("secretsmanager:GetSecretValue",), [ctx.attr("signing_secret", "arn")]),
        decrypt,
    ]


def authorizer_code(ctx: Context) -> FunctionCode:
    artifact = authorizer_artifact()
    return FunctionCode(artifact.sha256, artifact.handler, artifact)


def authorizer_settings(ctx: Context) -> FunctionSettings:
    names = ctx.names
    return FunctionSettings(
        memory_mb=MEMORY_MB,
        timeout_s=TIMEOUT_S,
        variables={
            "SIGNING_SECRET_ARN": ctx.attr("signing_secret", "arn"),
            "TOKEN_ISSUER": names.token_issuer,
            "TOKEN_AUDIENCE": names.token_audience,
        },
        log_level="INFO",
    )


def authorizer_source_arn(ctx: Context) -> str:
    """Only as this API's authorizer: `arn:aws:execute-api:REGION:ACCOUNT:API_ID/authorizers/ID`."""
    execution_arn = ctx.attr("rest_api", "execution_arn")
    authorizer_id = ctx.attr("rest_api", "authorizer_id")
    if UNKNOWN in (execution_arn, authorizer_id) or not authorizer_id:
        return UNKNOWN
    return f"{execution_arn}/authorizers/{authorizer_id}"


AUTHORIZER_LOG_GROUP = LogGroupInstance("authorizer_log_group", lambda n: n.authorizer_log_group, token_mode)
AUTHORIZER_ROLE = RoleInstance(
    key="authorizer_role",
    depends_on=("kms_key", "signing_secret"),
    role_name=lambda n: n.authorizer_role,
    policy_name=lambda n: n.authorizer_policy,
    function_name=lambda n: n.authorizer_function,
    statements=authorizer_statements,
    wanted=token_mode,
)
AUTHORIZER_FUNCTION = FunctionInstance(
    key="authorizer_function",
    depends_on=("authorizer_role", "authorizer_log_group", "signing_secret", "artifact_bucket"),
    function_name=lambda n: n.authorizer_function,
    role_name=lambda n: n.authorizer_role,
    log_group=lambda n: n.authorizer_log_group,
    code=authorizer_code,
    settings=authorizer_settings,
    wanted=token_mode,
)
AUTHORIZER_PERMISSION = PermissionInstance(
    key="authorizer_permission",
    depends_on=("authorizer_function", "rest_api"),
    function_name=lambda n: n.authorizer_function,
    sid=lambda n: n.authorizer_permission_sid,
    qualifier=None,
    source_arn=authorizer_source_arn,
    wanted=token_mode,
)


def authorizer_resources() -> list[Resource]:
    """The token mode's log group, role, function and permission, in that order."""
    return [
        LogGroup(AUTHORIZER_LOG_GROUP),
        FunctionRole(AUTHORIZER_ROLE),
        Function(AUTHORIZER_FUNCTION),
        InvokePermission(AUTHORIZER_PERMISSION),
    ]
