"""Every AWS resource name of an environment, derived in one place from the project and the suffix.

Names are deterministic so that a run that lost all memory of an earlier one (a crash, a new
worker, a wiped database) finds and adopts what exists instead of creating a second copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROJECT = "envport"
# The value of the `ManagedBy` tag on everything envport manages: what "is this ours?" checks.
# It names the tool, not the project, so it stays the same whatever a spec's `project` is.
MANAGED_BY = "envport"

# Account-level: API Gateway has one CloudWatch role setting per account and region, shared by
# every environment, so it is named after the project alone and never deleted with one.
APIGW_CLOUDWATCH_ROLE = f"{PROJECT}-apigateway-cloudwatch"
# Function code artifacts (R-REL-1) live in one bucket per account and region, shared by every
# environment there (promotion ships the same object), under a key made of their SHA-256.
ARTIFACT_PREFIX = "artifacts/"


def artifact_bucket(account_id: str, region: str) -> str:
    """`envport-artifacts-{account}-{region}`: S3 names are global, so the account id keeps ours
    apart from every other account's (and at most 45 characters, within S3's 63)."""
    return f"{PROJECT}-artifacts-{account_id}-{region}"


def artifact_key(sha256_hex: str) -> str:
    """Content-addressed: the same bytes always land on the same key, so they are stored once."""
    return f"{ARTIFACT_PREFIX}{sha256_hex}.zip"


INDEX_NAME = "byCreatedAt"  # the GSI that lists items newest first (R-DB-3)
INDEX_PARTITION = "listKey"
INDEX_SORT = "createdAt"
TTL_ATTRIBUTE = "expiresAt"
HANDLER = "lambda_bundle.handler.lambda_handler"
# The Lambda alias every environment serves traffic through (R-REL-2): API Gateway and the invoke
# permission name it, so a release or a rollback moves the alias and never touches API Gateway.
LIVE_ALIAS = "live"


def qualified_arn(function_arn: str, qualifier: str = LIVE_ALIAS) -> str:
    """A function's version or alias ARN (`...:function:NAME:live`): what API Gateway and the
    invoke permission name, so they follow the alias wherever a release points it."""
    return f"{function_arn}:{qualifier}"


# A restore (provisioning/restore.py) makes a new physical table `{base}-items-r{UTC stamp}`; the
# environment records which one is current (`EnvironmentSpec.table_name`), so plan, drift, the
# function's TABLE_NAME, its role's grant, the alarms and the dashboard all follow it.
RESTORED_TABLE_STAMP = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class Names:
    project: str
    suffix: str
    stage: str
    physical_table: str = ""  # empty: the environment's first table, `{base}-items`

    @property
    def base(self) -> str:
        return f"{self.project}-{self.suffix}"

    @property
    def table(self) -> str:
        """The physical table the environment serves from now."""
        return self.physical_table or self.base_table

    @property
    def base_table(self) -> str:
        """The environment's first table; restored ones are `{base_table}-r{UTC stamp}`."""
        return f"{self.base}-items"

    def restored_table(self, stamp: str) -> str:
        return f"{self.base_table}-r{stamp}"

    def is_own_table(self, name: str) -> bool:
        """`name` is one of this environment's physical tables (its first or a restored one)."""
        return name == self.base_table or bool(re.fullmatch(rf"{re.escape(self.base_table)}-r\d{{14}}", name))

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
        """The statement on the `live` alias that lets this API invoke it (R-API-1, R-REL-2)."""
        return f"{self.base}-apigw-invoke-{LIVE_ALIAS}"

    @property
    def legacy_permission_sid(self) -> str:
        """The statement on the unqualified function that envport added before the alias existed:
        removed by the provision that moves the API to the alias."""
        return f"{self.base}-apigw-invoke"

    # --- authorization (R-AUTH-1) ---
    @property
    def authorizer_function(self) -> str:
        """The TOKEN authorizer of the `token` mode: a second function with its own role and logs."""
        return f"{self.base}-authorizer"

    @property
    def authorizer_role(self) -> str:
        return f"{self.base}-authz-role"

    @property
    def authorizer_policy(self) -> str:
        return f"{self.base}-authz-access"

    @property
    def authorizer_log_group(self) -> str:
        return f"/aws/lambda/{self.authorizer_function}"

    @property
    def signing_secret(self) -> str:
        """The Secrets Manager secret holding the key that signs and verifies the mode's tokens."""
        return f"{self.base}/token-signing-key"

    @property
    def authorizer_permission_sid(self) -> str:
        return f"{self.base}-apigw-authorizer"

    def api_authorizer(self, mode: str) -> str:
        """The API Gateway authorizer the methods name in mode `token` or `cognito`: one name per
        mode, so a switch makes the new one, moves the methods, then deletes the old one."""
        return f"{self.base}-{mode}"

    @property
    def user_pool(self) -> str:
        return f"{self.base}-users"

    @property
    def user_pool_client(self) -> str:
        return f"{self.base}-client"

    @property
    def token_issuer(self) -> str:
        """`iss` of the tokens envport signs: names the environment, so a token of another
        environment (whose key might leak) is refused even before its signature is."""
        return f"https://{self.project}.invalid/{self.suffix}"

    @property
    def token_audience(self) -> str:
        """`aud` of the tokens envport signs: this environment's API."""
        return f"{self.base}-api"

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
        """The teardown's backups (R-OPS-4): `{base}-teardown-{UTC stamp}`."""
        return f"{self.base}-teardown"

    @property
    def on_demand_backup_prefix(self) -> str:
        """Backups taken on demand (`manage.py backup`): `{base}-ondemand-{UTC stamp}`."""
        return f"{self.base}-ondemand"
