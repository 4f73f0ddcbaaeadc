"""The resource policy statement that lets this API, and only it, invoke the `live` alias (R-API-1).

SourceArn is the API's execution ARN with this stage and any method and path
(`arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/*/*`), never `*`: another API in the account,
or another stage of this one, cannot call the function. A statement left by an earlier API (same
Sid, other SourceArn) is replaced: Lambda has no call that edits a statement.

The statement is on the alias (AddPermission with Qualifier `live`, R-REL-2): API Gateway invokes
the alias, and a permission on an alias allows invoking through that alias's ARN only. Before
aliases, envport put its statement on the unqualified function; the provision that moves the
API's integrations to the alias replaces it (it runs after `rest_api`, so by then nothing uses
the old one): the plan shows that as one `Resource` difference, function -> alias.

AWS keeps one policy per function, version and alias; moto 5.2.5 keeps one per function and
ignores GetPolicy's Qualifier. Statements are therefore picked by Sid AND Resource, which is
right on both, and the two statements have different Sids, so neither can shadow the other.
"""

from __future__ import annotations

import json
from typing import Any

from ..aws import error_code
from ..names import LIVE_ALIAS, qualified_arn
from .base import PRESENT, UNKNOWN, Context, FieldDiff, Observed, Resource

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


UNQUALIFIED = "UnqualifiedStatement"  # the field that reports a leftover pre-alias statement


class InvokePermission(Resource):
    """`lambda add_permission` on the alias for API Gateway, scoped to this API's execution ARN and stage."""

    key = "permission"
    kind = "lambda-permission"
    depends_on = ("alias", "rest_api")

    def observe(self, ctx: Context) -> Observed | None:
        """Two GetPolicy reads (the alias's policy and the function's), filtered by Sid and Resource."""
        alias_arn = qualified_arn(ctx.function_arn, LIVE_ALIAS)
        live = _find(_statements(ctx, LIVE_ALIAS), ctx.names.permission_sid, alias_arn)
        legacy = _find(_statements(ctx, None), ctx.names.legacy_permission_sid, ctx.function_arn)
        statement = live or legacy
        if statement is None:
            return None
        state = {**statement_fields(statement), "Resource": statement.get("Resource")}
        if live is not None and legacy is not None:
            state[UNQUALIFIED] = PRESENT
        attrs = {
            "sid": ctx.names.permission_sid if live is not None else ctx.names.legacy_permission_sid,
            "on_alias": live is not None,
            "unqualified": legacy is not None,
        }
        return Observed(state=state, attrs=attrs)

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
            "Resource": qualified_arn(ctx.function_arn, LIVE_ALIAS),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["SourceArn"] == UNKNOWN:
            raise RuntimeError("permission: the REST API's execution ARN is unknown; converge rest_api first")
        ctx.client("lambda").add_permission(
            FunctionName=ctx.names.function,
            Qualifier=LIVE_ALIAS,
            StatementId=ctx.names.permission_sid,
            Action=ACTION,
            Principal=PRINCIPAL,
            SourceArn=desired["SourceArn"],
            SourceAccount=ctx.account_id,
        )
        return {"sid": ctx.names.permission_sid, "on_alias": True, "unqualified": False}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        """The alias statement first (remove and add again: AddPermission with an existing Sid is
        refused), then the pre-alias one, so the alias is never left without a statement."""
        statement_diffs = [d for d in diffs if d.field != UNQUALIFIED]
        attrs = {"sid": ctx.names.permission_sid, "on_alias": True, "unqualified": False}
        if statement_diffs or not observed.attrs.get("on_alias"):
            if observed.attrs.get("on_alias"):
                self._remove(ctx, ctx.names.permission_sid, LIVE_ALIAS)
            attrs = self.create(ctx, desired)
        if observed.attrs.get("unqualified"):
            self._remove(ctx, ctx.names.legacy_permission_sid, None)
        return attrs

    def delete(self, ctx: Context, observed: Observed) -> None:
        if observed.attrs.get("on_alias"):
            self._remove(ctx, ctx.names.permission_sid, LIVE_ALIAS)
        if observed.attrs.get("unqualified"):
            self._remove(ctx, ctx.names.legacy_permission_sid, None)

    def _remove(self, ctx: Context, sid: str, qualifier: str | None) -> None:
        kwargs: dict[str, Any] = {"FunctionName": ctx.names.function, "StatementId": sid}
        if qualifier is not None:
            kwargs["Qualifier"] = qualifier
        try:
            ctx.client("lambda").remove_permission(**kwargs)
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise


def _statements(ctx: Context, qualifier: str | None) -> list[dict[str, Any]]:
    """The statements of the function's (or the alias's) policy; none when there is no policy,
    no alias or no function."""
    kwargs: dict[str, Any] = {"FunctionName": ctx.names.function}
    if qualifier is not None:
        kwargs["Qualifier"] = qualifier
    try:
        policy = ctx.client("lambda").get_policy(**kwargs)["Policy"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return []
        raise
    statements: list[dict[str, Any]] = json.loads(policy).get("Statement", [])
    return statements


def _find(statements: list[dict[str, Any]], sid: str, resource: str) -> dict[str, Any] | None:
    """The statement with this Sid on exactly this resource (moto returns every qualifier's)."""
    return next((s for s in statements if s.get("Sid") == sid and s.get("Resource") == resource), None)
