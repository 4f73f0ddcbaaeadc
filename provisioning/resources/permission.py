"""The function's resource policy statement that lets this API, and only it, invoke it (R-API-1).

SourceArn is the API's execution ARN with this stage and any method and path
(`arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/*/*`), never `*`: another API in the account,
or another stage of this one, cannot call the function. A statement left by an earlier API (same
Sid, other SourceArn) is replaced: Lambda has no call that edits a statement.
"""

from __future__ import annotations

import json
from typing import Any

from ..aws import error_code
from .base import UNKNOWN, Context, FieldDiff, Observed, Resource

PRINCIPAL = "apigateway.amazonaws.com"
ACTION = "lambda:InvokeFunction"


def _condition(statement: dict[str, Any], operator: str, key: str) -> Any:
    """A condition value, whatever the case of its key ('AWS:SourceArn' or 'aws:SourceArn')."""
    for name, value in ((statement.get("Condition") or {}).get(operator) or {}).items():
        if name.lower() == key.lower():
            return value
    return None


def statement_fields(statement: dict[str, Any]) -> dict[str, Any]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("Service", principal)
    return {
        "Effect": statement.get("Effect"),
        "Action": statement.get("Action"),
        "Principal": principal,
        "SourceArn": _condition(statement, "ArnLike", "AWS:SourceArn"),
        "SourceAccount": _condition(statement, "StringEquals", "AWS:SourceAccount"),
    }


class InvokePermission(Resource):
    """`lambda add_permission` for API Gateway, scoped to this API's execution ARN and stage."""

    key = "permission"
    kind = "lambda-permission"
    depends_on = ("function", "rest_api")

    def observe(self, ctx: Context) -> Observed | None:
        try:
            policy = ctx.client("lambda").get_policy(FunctionName=ctx.names.function)["Policy"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":  # no function, or no policy yet
                return None
            raise
        statements = json.loads(policy).get("Statement", [])
        mine = [s for s in statements if s.get("Sid") == ctx.names.permission_sid]
        if not mine:
            return None
        return Observed(state=statement_fields(mine[0]), attrs={"sid": ctx.names.permission_sid})

    def source_arn(self, ctx: Context) -> str:
        execution_arn = ctx.attr("rest_api", "execution_arn")
        if execution_arn == UNKNOWN:
            return UNKNOWN
        return f"{execution_arn}/{ctx.names.api_stage}/*/*"

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "Effect": "Allow",
            "Action": ACTION,
            "Principal": PRINCIPAL,
            "SourceArn": self.source_arn(ctx),
            "SourceAccount": ctx.account_id,
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["SourceArn"] == UNKNOWN:
            raise RuntimeError("permission: the REST API's execution ARN is unknown; converge rest_api first")
        ctx.client("lambda").add_permission(
            FunctionName=ctx.names.function,
            StatementId=ctx.names.permission_sid,
            Action=ACTION,
            Principal=PRINCIPAL,
            SourceArn=desired["SourceArn"],
            SourceAccount=ctx.account_id,
        )
        return {"sid": ctx.names.permission_sid}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        """Remove and add again: AddPermission with an existing Sid is refused (ResourceConflict)."""
        self._remove(ctx)
        return self.create(ctx, desired)

    def delete(self, ctx: Context, observed: Observed) -> None:
        self._remove(ctx)

    def _remove(self, ctx: Context) -> None:
        try:
            ctx.client("lambda").remove_permission(
                FunctionName=ctx.names.function, StatementId=ctx.names.permission_sid
            )
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
