"""API Gateway's account-level CloudWatch role (R-IAM-3), shared by every environment.

API Gateway writes execution and access logs as the role named in its account settings, one
setting per account and region. A stage cannot turn logging on until it is set, so the REST API
depends on this resource. It is shared: no environment owns it, and tearing one down keeps it.
"""

from __future__ import annotations

import json
from typing import Any

from ..aws import error_code, tag_map, unless_absent
from ..names import APIGW_CLOUDWATCH_ROLE, MANAGED_BY, PROJECT
from .base import Context, FieldDiff, Observed, Resource, key_value_list, retry_until, sync_tags

ROLE_DESCRIPTION = "API Gateway writes execution and access logs to CloudWatch as this role (envport)"

POLICY_NAME = f"{APIGW_CLOUDWATCH_ROLE}-push-logs"
TRUSTED_SERVICE = "apigateway.amazonaws.com"
# What AWS's AmazonAPIGatewayPushToCloudWatchLogs grants, as an inline policy: moto has no AWS
# managed policies, and an inline copy cannot change under us when AWS revises the managed one.
LOG_ACTIONS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
    "logs:FilterLogEvents",
    "logs:GetLogEvents",
    "logs:PutLogEvents",
)
STATEMENT_SID = "ApiGatewayWritesExecutionAndAccessLogsOfThisAccount"
# The patch of UpdateAccount; that call is limited to 1 request per 20 s per account.
ROLE_PATH = "/cloudwatchRoleArn"
# IAM is eventually consistent: right after the role is created, UpdateAccount may refuse it.
PROPAGATION_MESSAGE = "does not have required permissions"


def trust_policy() -> dict[str, Any]:
    """Only API Gateway may assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": TRUSTED_SERVICE}, "Action": "sts:AssumeRole"}
        ],
    }


def logs_policy(ctx: Context) -> dict[str, Any]:
    """Log writes on the log groups of this account only.

    The managed policy uses Resource `*`. The role is global (IAM) while the account setting is
    per region, so one role serves every region: the region is a wildcard, the account is not.
    """
    resource = f"arn:{ctx.aws.partition}:logs:*:{ctx.account_id}:log-group:*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": STATEMENT_SID, "Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": resource}
        ],
    }


def shared_tags() -> dict[str, str]:
    """The role belongs to no single environment, so it carries no Environment/Stage/Owner tag."""
    return {"Project": PROJECT, "ManagedBy": MANAGED_BY}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return sorted(value) if isinstance(value, list) else [value]


def normalise_statement(statement: dict[str, Any]) -> dict[str, Any]:
    """A statement in one canonical shape, so a list and a single string compare equal."""
    out: dict[str, Any] = {"Effect": statement.get("Effect")}
    for key in ("Action", "Resource"):
        if key in statement:
            out[key] = _as_list(statement[key])
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        out["Principal"] = {k: _as_list(v) for k, v in sorted(principal.items())}
    elif principal is not None:
        out["Principal"] = principal
    if statement.get("Condition"):
        out["Condition"] = statement["Condition"]
    return out


def statement_fields(prefix: str, document: Any) -> dict[str, Any]:
    """One field per statement, keyed by Sid (or position), so an extra statement is its own finding."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = (document or {}).get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return {
        f"{prefix}:{st.get('Sid') or f'#{index}'}": normalise_statement(st)
        for index, st in enumerate(statements)
    }


class ApiGatewayAccount(Resource):
    """The role API Gateway logs as, and the account setting that names it."""

    key = "apigw_account"
    kind = "apigateway-account"
    shared = True

    def name(self, ctx: Context) -> str:
        """The account setting is the CloudWatch role it names: envport's, shared by the account."""
        return APIGW_CLOUDWATCH_ROLE

    def role_arn(self, ctx: Context) -> str:
        return ctx.arn("iam", f"role/{APIGW_CLOUDWATCH_ROLE}", region="")

    def observe(self, ctx: Context) -> Observed | None:
        iam = ctx.client("iam")
        role = unless_absent(lambda: iam.get_role(RoleName=APIGW_CLOUDWATCH_ROLE)["Role"], "NoSuchEntity")
        if role is None:
            return None
        state: dict[str, Any] = {
            **statement_fields("trust", role.get("AssumeRolePolicyDocument")),
            "tags": tag_map(role.get("Tags", [])),
        }
        inline = sorted(iam.list_role_policies(RoleName=APIGW_CLOUDWATCH_ROLE)["PolicyNames"])
        state["inline_policies"] = inline
        if POLICY_NAME in inline:
            document = iam.get_role_policy(RoleName=APIGW_CLOUDWATCH_ROLE, PolicyName=POLICY_NAME)
            state.update(statement_fields("statement", document["PolicyDocument"]))
        attached = iam.list_attached_role_policies(RoleName=APIGW_CLOUDWATCH_ROLE)["AttachedPolicies"]
        state["attached_policies"] = sorted(p["PolicyArn"] for p in attached)
        state["account.cloudwatchRoleArn"] = ctx.client("apigateway").get_account().get("cloudwatchRoleArn")
        return Observed(state=state, attrs={"role_arn": role["Arn"]})

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            **statement_fields("trust", trust_policy()),
            "tags": shared_tags(),
            "inline_policies": [POLICY_NAME],
            **statement_fields("statement", logs_policy(ctx)),
            "attached_policies": [],
            "account.cloudwatchRoleArn": self.role_arn(ctx),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        iam = ctx.client("iam")
        try:
            role = iam.create_role(
                RoleName=APIGW_CLOUDWATCH_ROLE,
                AssumeRolePolicyDocument=json.dumps(trust_policy()),
                Description=ROLE_DESCRIPTION,
                Tags=key_value_list(shared_tags()),
            )["Role"]
        except Exception as exc:
            # Another environment's first provision in this account made it a moment ago (a fleet
            # provisioned at once): finish it the same way instead of failing.
            if error_code(exc) != "EntityAlreadyExists":
                raise
            role = iam.get_role(RoleName=APIGW_CLOUDWATCH_ROLE)["Role"]
        self._put_policy(ctx)
        current = ctx.client("apigateway").get_account().get("cloudwatchRoleArn")
        if current != role["Arn"]:
            self._set_account_role(ctx, role["Arn"])
        return {"role_arn": role["Arn"]}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        iam = ctx.client("iam")
        fields = {d.field: d for d in diffs}
        if any(name.startswith("trust:") for name in fields):
            iam.update_assume_role_policy(
                RoleName=APIGW_CLOUDWATCH_ROLE, PolicyDocument=json.dumps(trust_policy())
            )
        if "tags" in fields:
            sync_tags(observed, desired, iam.tag_role, iam.untag_role, RoleName=APIGW_CLOUDWATCH_ROLE)
        if "inline_policies" in fields or any(name.startswith("statement:") for name in fields):
            self._put_policy(ctx)
            for extra in set(observed.state.get("inline_policies", [])) - {POLICY_NAME}:
                iam.delete_role_policy(RoleName=APIGW_CLOUDWATCH_ROLE, PolicyName=extra)
        for arn in observed.state.get("attached_policies", []) if "attached_policies" in fields else []:
            iam.detach_role_policy(RoleName=APIGW_CLOUDWATCH_ROLE, PolicyArn=arn)
        if "account.cloudwatchRoleArn" in fields:
            self._set_account_role(ctx, self.role_arn(ctx))
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """Never deleted with an environment: the setting is per account and region, and every other
        environment's stage logging depends on it. The engine skips shared resources anyway."""

    def _put_policy(self, ctx: Context) -> None:
        ctx.client("iam").put_role_policy(
            RoleName=APIGW_CLOUDWATCH_ROLE,
            PolicyName=POLICY_NAME,
            PolicyDocument=json.dumps(logs_policy(ctx)),
        )

    def _set_account_role(self, ctx: Context, role_arn: str) -> None:
        """One UpdateAccount (1 request per 20 s per account), retried only while IAM propagates."""
        apigateway = ctx.client("apigateway")

        def attempt() -> Any:
            return apigateway.update_account(
                patchOperations=[{"op": "replace", "path": ROLE_PATH, "value": role_arn}]
            )

        def propagating(exc: BaseException) -> bool:
            return error_code(exc) == "BadRequestException" and PROPAGATION_MESSAGE in str(exc)

        retry_until(ctx, attempt, propagating, tries=10, first_delay=2.0, max_delay=10.0)
