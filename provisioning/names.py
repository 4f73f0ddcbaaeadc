"""Every AWS resource name of an environment, derived in one place from the project and the suffix.

Names are deterministic so that a run that lost all memory of an earlier one (a crash, a new
worker, a wiped database) finds and adopts what exists instead of creating a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "envport"
# The value of the `ManagedBy` tag on everything envport manages: what "is this ours?" checks.
# It names the tool, not the project, so it stays the same whatever a spec's `project` is.
MANAGED_BY = "envport"

# Account-level: API Gateway has one CloudWatch role setting per account and region, shared by
# every environment, so it is named after the project alone and never deleted with one.
APIGW_CLOUDWATCH_ROLE = f"{PROJECT}-apigateway-cloudwatch"

INDEX_NAME = "byCreatedAt"  # the GSI that lists items newest first (R-DB-3)
INDEX_PARTITION = "listKey"
INDEX_SORT = "createdAt"
TTL_ATTRIBUTE = "expiresAt"
HANDLER = "lambda_bundle.handler.lambda_handler"


@dataclass(frozen=True)
class Names:
    project: str
    suffix: str
    stage: str

    @property
    def base(self) -> str:
        return f"{self.project}-{self.suffix}"

    @property
    def table(self) -> str:
        return f"{self.base}-items"

    @property
    def function(self) -> str:
        return f"{self.base}-api"

    @property
    def function_role(self) -> str:
        return f"{self.base}-fn-role"

    @property
    def function_policy(self) -> str:
        return f"{self.base}-fn-access"

    @property
    def dlq(self) -> str:
        return f"{self.base}-dlq"

    @property
    def function_log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def access_log_group(self) -> str:
        return f"/aws/apigateway/{self.base}-access"

    @property
    def rest_api(self) -> str:
        return self.base

    @property
    def api_stage(self) -> str:
        return self.stage

    @property
    def api_key(self) -> str:
        return f"{self.base}-key"

    @property
    def usage_plan(self) -> str:
        return f"{self.base}-plan"

    @property
    def permission_sid(self) -> str:
        return f"{self.base}-apigw-invoke"

    @property
    def topic(self) -> str:
        return f"{self.base}-alarms"

    @property
    def alarm_prefix(self) -> str:
        return f"{self.base}-"

    @property
    def dashboard(self) -> str:
        return self.base

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.base}"

    @property
    def backup_prefix(self) -> str:
        return f"{self.base}-teardown"
