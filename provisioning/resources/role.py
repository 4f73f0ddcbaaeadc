"""The function's execution role (R-IAM-1, R-IAM-2): trusted by Lambda only, least privilege.

Its one inline policy grants exactly what the handler in `lambda_bundle/` does, each statement
with a Sid that says why it is there; there is no `*` action and no `*` resource except where
AWS requires one (X-Ray), and no managed policy (AWSLambdaBasicExecutionRole would grant
CreateLogGroup and log writes on every log group of the account).

Drift is compared statement by statement, keyed by Sid, so an added broad statement shows up
as its own finding (`policy.Statement[Broad]`: wanted MISSING, found its JSON) instead of one
opaque "the policy differs". Other inline policies and attached managed policies are drift too,
and an update removes them: anything granted besides this policy is, by definition, too much.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..aws import error_code, paged_items, tag_map, tolerating_absent, unless_absent
from ..names import Names
from .base import UNKNOWN, Context, FieldDiff, InstanceResource, Observed, always, sync_tags, user_tags
from .data_access import INDEX_ACTIONS, TABLE_ACTIONS, data_grants
from .network import eni_statements

POLICY_VERSION = "2012-10-17"
TRUSTED_SERVICE = "lambda.amazonaws.com"
TRUST_FIELD = "AssumeRolePolicyDocument"
STATEMENT_PREFIX = "policy.Statement["
# The DynamoDB grants live in data_access: the VPC endpoint's policy is built from the same list.
__all__ = [
    "FUNCTION_ROLE",
    "INDEX_ACTIONS",
    "TABLE_ACTIONS",
    "FunctionRole",
    "RoleInstance",
    "allow",
    "policy_statements",
    "trust_policy",
]
_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")


def trust_policy() -> dict[str, Any]:
    """R-IAM-2: only the Lambda service may assume the role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": TRUSTED_SERVICE}, "Action": "sts:AssumeRole"}
        ],
    }


def policy_statements(ctx: Context) -> list[dict[str, Any]]:
    """R-IAM-1: the inline policy's statements. A resource not known yet is UNKNOWN."""
    log_group = ctx.log_group_arn(ctx.names.function_log_group)
    return [
        *(allow(grant.sid, grant.actions, list(grant.resources)) for grant in data_grants(ctx)),
        allow(
            "WriteOwnLogStreamsGroupIsPreCreated",
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            [log_group, f"{log_group}:*"],
        ),
        allow(
            "XRayTraceWritesAwsRequiresStarResource",
            ("xray:PutTelemetryRecords", "xray:PutTraceSegments"),
            ["*"],
        ),
        allow("SendFailedAsyncEventsToOwnDlq", ("sqs:SendMessage",), [ctx.dlq_arn]),
        allow("DecryptEnvVarsWithEnvironmentKey", ("kms:Decrypt",), [ctx.kms_key_arn]),
        *eni_statements(ctx),
    ]


def allow(sid: str, actions: tuple[str, ...], resources: list[Any]) -> dict[str, Any]:
    """One Allow statement; its Sid says why it is there."""
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources}


def canonical(document: Any) -> str:
    """A policy (or statement) as compact JSON that ignores the order of actions and resources
    and whether a single one is written as a string or a one-element list."""
    return json.dumps(_normalise(document), sort_keys=True, separators=(",", ":"))


def _normalise(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _normalise(v, k) for k, v in value.items()}
    if key in _LIST_KEYS or key in ("Service", "AWS", "Federated"):
        items = value if isinstance(value, list) else [value]
        return sorted(str(item) for item in items)
    if key == "Statement":
        statements = value if isinstance(value, list) else [value]
        return sorted((_normalise(s) for s in statements), key=lambda s: json.dumps(s, sort_keys=True))
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


def statement_fields(statements: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """(`policy.Statement[Sid]`, canonical JSON) per statement; `#n` for one without a Sid."""
    seen: set[str] = set()
    for number, statement in enumerate(statements, start=1):
        label = str(statement.get("Sid") or f"#{number}")
        if label in seen:
            label = f"{label}#{number}"
        seen.add(label)
        unknown = any(UNKNOWN in (v if isinstance(v, list) else [v]) for v in statement.values())
        yield f"{STATEMENT_PREFIX}{label}]", UNKNOWN if unknown else canonical(statement)


@dataclass(frozen=True)
class RoleInstance:
    """What differs between two execution roles of an environment (the API function's, the
    token authorizer's): the names, the statements of the one inline policy, the dependencies."""

    key: str
    depends_on: tuple[str, ...]
    role_name: Callable[[Names], str]
    policy_name: Callable[[Names], str]
    function_name: Callable[[Names], str]  # the function it runs, named in its description
    statements: Callable[[Context], list[dict[str, Any]]]
    wanted: Callable[[Context], bool] = always


FUNCTION_ROLE = RoleInstance(
    key="function_role",
    # kms:Decrypt needs the key's ARN; the engine drops the edge when the spec names its own key.
    # In vpc mode the ENI statements name the subnets and the security group (R-NET-3).
    depends_on=("kms_key", "subnets", "security_group"),
    role_name=lambda n: n.function_role,
    policy_name=lambda n: n.function_policy,
    function_name=lambda n: n.function,
    statements=policy_statements,
)


class FunctionRole(InstanceResource[RoleInstance], default=FUNCTION_ROLE):
    """A Lambda function's execution role; `FunctionRole()` is the API function's (FUNCTION_ROLE)."""

    kind = "iam-role"

    def name(self, ctx: Context) -> str:
        return self.instance.role_name(ctx.names)

    def policy_name(self, ctx: Context) -> str:
        return self.instance.policy_name(ctx.names)

    def statements(self, ctx: Context) -> list[dict[str, Any]]:
        return self.instance.statements(ctx)

    def observe(self, ctx: Context) -> Observed | None:
        iam = ctx.client("iam")
        name = self.name(ctx)
        role = unless_absent(lambda: iam.get_role(RoleName=name)["Role"], "NoSuchEntity")
        if role is None:
            return None
        inline = list(paged_items(iam, "list_role_policies", "PolicyNames", RoleName=name))
        attached = list(paged_items(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name))
        state: dict[str, Any] = {
            TRUST_FIELD: canonical(role.get("AssumeRolePolicyDocument") or {}),
            "tags": user_tags(tag_map(role.get("Tags", []))),
            "OtherInlinePolicies": sorted(p for p in inline if p != self.policy_name(ctx)),
            "AttachedManagedPolicies": sorted(p["PolicyArn"] for p in attached),
        }
        if self.policy_name(ctx) in inline:
            state.update(statement_fields(self._live_statements(ctx)))
        return Observed(state=state, attrs={"arn": role["Arn"], "name": role["RoleName"]})

    def _live_statements(self, ctx: Context) -> list[dict[str, Any]]:
        try:
            document = ctx.client("iam").get_role_policy(
                RoleName=self.name(ctx), PolicyName=self.policy_name(ctx)
            )["PolicyDocument"]
        except Exception as exc:
            if error_code(exc) == "NoSuchEntity":  # deleted between the list and the get
                return []
            raise
        if isinstance(document, str):  # the raw API returns it URL-encoded; boto3 decodes it
            document = json.loads(document)
        statements = document.get("Statement", [])
        return statements if isinstance(statements, list) else [statements]

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            TRUST_FIELD: canonical(trust_policy()),
            "tags": ctx.tag_dict,
            "OtherInlinePolicies": [],
            "AttachedManagedPolicies": [],
            **dict(statement_fields(self.statements(ctx))),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        """Create, then attach the policy. A crash in between leaves a role whose statements are
        MISSING, which the next run's update puts; a role that appeared meanwhile is adopted."""
        iam = ctx.client("iam")
        document = self._policy_document(ctx)
        try:
            role = iam.create_role(
                RoleName=self.name(ctx),
                AssumeRolePolicyDocument=json.dumps(trust_policy()),
                Description=f"Execution role of Lambda function {self.instance.function_name(ctx.names)} "
                "(managed by envport)",
                Tags=ctx.tag_list(),
            )["Role"]
        except Exception as exc:
            return self.converge(ctx, desired, self.existing(ctx, exc, "EntityAlreadyExists"))
        self._put_policy(ctx, document)
        return {"arn": role["Arn"], "name": role["RoleName"]}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        iam = ctx.client("iam")
        name = self.name(ctx)
        changed = {d.field for d in diffs}
        if TRUST_FIELD in changed:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy()))
        if "tags" in changed:
            sync_tags(observed, desired, iam.tag_role, iam.untag_role, RoleName=name)
        if any(field.startswith(STATEMENT_PREFIX) for field in changed):
            self._put_policy(ctx, self._policy_document(ctx))
        if "OtherInlinePolicies" in changed:
            for policy in observed.state.get("OtherInlinePolicies", []):
                _ignore_missing(iam.delete_role_policy, RoleName=name, PolicyName=policy)
        if "AttachedManagedPolicies" in changed:
            for arn in observed.state.get("AttachedManagedPolicies", []):
                _ignore_missing(iam.detach_role_policy, RoleName=name, PolicyArn=arn)
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """IAM refuses to delete a role that still has policies: remove them all first."""
        iam = ctx.client("iam")
        name = self.name(ctx)
        try:
            for policy in list(paged_items(iam, "list_role_policies", "PolicyNames", RoleName=name)):
                _ignore_missing(iam.delete_role_policy, RoleName=name, PolicyName=policy)
            for attached in list(
                paged_items(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name)
            ):
                _ignore_missing(iam.detach_role_policy, RoleName=name, PolicyArn=attached["PolicyArn"])
        except Exception as exc:
            if error_code(exc) == "NoSuchEntity":
                return
            raise
        _ignore_missing(iam.delete_role, RoleName=name)

    def _policy_document(self, ctx: Context) -> dict[str, Any]:
        statements = self.statements(ctx)
        unknown = [s["Sid"] for s in statements if UNKNOWN in s["Resource"]]
        if unknown:
            raise RuntimeError(
                f"cannot write {self.policy_name(ctx)}: the resources of {', '.join(unknown)} are not "
                "known yet (converge kms_key first, or set the environment's kms_key_arn)"
            )
        return {"Version": POLICY_VERSION, "Statement": statements}

    def _put_policy(self, ctx: Context, document: dict[str, Any]) -> None:
        ctx.client("iam").put_role_policy(
            RoleName=self.name(ctx),
            PolicyName=self.policy_name(ctx),
            PolicyDocument=json.dumps(document),
        )


def _ignore_missing(call: Any, **kwargs: Any) -> None:
    with tolerating_absent("NoSuchEntity"):
        call(**kwargs)
