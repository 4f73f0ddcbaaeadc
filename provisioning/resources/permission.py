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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..aws import error_code, tolerating_absent
from ..names import LIVE_ALIAS, Names, qualified_arn
from .base import PRESENT, UNKNOWN, Context, FieldDiff, InstanceResource, Observed, always

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


@dataclass(frozen=True)
class PermissionInstance:
    """What differs between two invoke permissions of an environment: which function (and alias)
    the statement is on, its Sid, what SourceArn API Gateway invokes with, and the statement an
    earlier envport left on the unqualified function, if this instance ever had one."""

    key: str
    depends_on: tuple[str, ...]
    function_name: Callable[[Names], str]
    sid: Callable[[Names], str]
    qualifier: str | None  # the alias the statement is on; None: the unqualified function
    source_arn: Callable[[Context], str]  # UNKNOWN until the API (and its authorizer) exist
    legacy_sid: Callable[[Names], str] | None = None  # on the unqualified function, removed on sight
    wanted: Callable[[Context], bool] = always


def stage_source_arn(ctx: Context) -> str:
    """Any method and path of this API's stage: `.../API_ID/STAGE/*/*`."""
    execution_arn = ctx.attr("rest_api", "execution_arn")
    if execution_arn == UNKNOWN:
        return UNKNOWN
    return f"{execution_arn}/{ctx.names.api_stage}/*/*"


API_PERMISSION = PermissionInstance(
    key="permission",
    depends_on=("alias", "rest_api"),
    function_name=lambda n: n.function,
    sid=lambda n: n.permission_sid,
    qualifier=LIVE_ALIAS,
    source_arn=stage_source_arn,
    legacy_sid=lambda n: n.legacy_permission_sid,
)


class InvokePermission(InstanceResource[PermissionInstance], default=API_PERMISSION):
    """`lambda add_permission` for API Gateway, scoped to one SourceArn of this API;
    `InvokePermission()` is the one on the API function's `live` alias (API_PERMISSION)."""

    kind = "lambda-permission"

    def name(self, ctx: Context) -> str:
        """The statement's Sid, on the function (or alias) it lets API Gateway invoke."""
        return f"{self._sid(ctx)} on {self._target(ctx)}"

    def observe(self, ctx: Context) -> Observed | None:
        """One GetPolicy where the statement belongs (two with a legacy statement to look for),
        filtered by Sid and Resource."""
        current = _find(self._statements(ctx, self.instance.qualifier), self._sid(ctx), self._arn(ctx))
        legacy = None
        if self.instance.legacy_sid is not None:
            legacy_sid = self.instance.legacy_sid(ctx.names)
            legacy = _find(self._statements(ctx, None), legacy_sid, self._function_arn(ctx))
        statement = current or legacy
        if statement is None:
            return None
        state = {**statement_fields(statement), "Resource": statement.get("Resource")}
        if current is not None and legacy is not None:
            state[UNQUALIFIED] = PRESENT
        attrs = {
            "sid": self._sid(ctx) if current is not None else statement.get("Sid"),
            "current": current is not None,
            "legacy": legacy is not None,
        }
        return Observed(state=state, attrs=attrs)

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "Effect": "Allow",
            "Action": ACTION,
            "Principal": PRINCIPAL,
            "SourceArn": self.instance.source_arn(ctx),
            "SourceAccount": ctx.account_id,
            "Resource": self._arn(ctx),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["SourceArn"] == UNKNOWN:
            raise RuntimeError(f"{self.key}: the API's SourceArn is unknown; converge rest_api first")
        ctx.client("lambda").add_permission(
            **self._where(ctx, self.instance.qualifier),
            StatementId=self._sid(ctx),
            Action=ACTION,
            Principal=PRINCIPAL,
            SourceArn=desired["SourceArn"],
            SourceAccount=ctx.account_id,
        )
        return {"sid": self._sid(ctx), "current": True, "legacy": False}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        """The statement where it belongs first (remove and add again: AddPermission with an
        existing Sid is refused, and Lambda has no call that edits a statement), then the legacy
        one, so the function is never left without a statement."""
        statement_diffs = [d for d in diffs if d.field != UNQUALIFIED]
        attrs = {"sid": self._sid(ctx), "current": True, "legacy": False}
        if statement_diffs or not observed.attrs.get("current"):
            if observed.attrs.get("current"):
                self._remove(ctx, self._sid(ctx), self.instance.qualifier)
            attrs = self.create(ctx, desired)
        self._remove_legacy(ctx, observed)
        return attrs

    def delete(self, ctx: Context, observed: Observed) -> None:
        if observed.attrs.get("current"):
            self._remove(ctx, self._sid(ctx), self.instance.qualifier)
        self._remove_legacy(ctx, observed)

    # --- where the statement is ---
    def _sid(self, ctx: Context) -> str:
        return self.instance.sid(ctx.names)

    def _function_arn(self, ctx: Context) -> str:
        return ctx.arn("lambda", f"function:{self.instance.function_name(ctx.names)}")

    def _arn(self, ctx: Context) -> str:
        """The statement's Resource: the alias's ARN, or the unqualified function's."""
        if self.instance.qualifier is None:
            return self._function_arn(ctx)
        return qualified_arn(self._function_arn(ctx), self.instance.qualifier)

    def _target(self, ctx: Context) -> str:
        name = self.instance.function_name(ctx.names)
        return name if self.instance.qualifier is None else f"{name}:{self.instance.qualifier}"

    def _where(self, ctx: Context, qualifier: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"FunctionName": self.instance.function_name(ctx.names)}
        if qualifier is not None:
            kwargs["Qualifier"] = qualifier
        return kwargs

    def _remove_legacy(self, ctx: Context, observed: Observed) -> None:
        if observed.attrs.get("legacy") and self.instance.legacy_sid is not None:
            self._remove(ctx, self.instance.legacy_sid(ctx.names), None)

    def _remove(self, ctx: Context, sid: str, qualifier: str | None) -> None:
        with tolerating_absent("ResourceNotFoundException"):
            ctx.client("lambda").remove_permission(**self._where(ctx, qualifier), StatementId=sid)

    def _statements(self, ctx: Context, qualifier: str | None) -> list[dict[str, Any]]:
        """The statements of the function's (or the alias's) policy; none when there is no
        policy, no alias or no function."""
        try:
            policy = ctx.client("lambda").get_policy(**self._where(ctx, qualifier))["Policy"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return []
            raise
        statements: list[dict[str, Any]] = json.loads(policy).get("Statement", [])
        return statements


def _find(statements: list[dict[str, Any]], sid: str, resource: str) -> dict[str, Any] | None:
    """The statement with this Sid on exactly this resource (moto returns every qualifier's)."""
    return next((s for s in statements if s.get("Sid") == sid and s.get("Resource") == resource), None)
