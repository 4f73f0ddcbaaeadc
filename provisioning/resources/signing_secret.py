"""The `token` mode's signing key, in Secrets Manager (R-AUTH-1).

The key is generated once, on create (`tokens.new_key_document`), encrypted with the
environment's KMS key, and never compared or printed: drift looks at the secret's key, tags and
whether it still has a current value, not at the value itself. Teardown deletes it without the
7-day recovery window, so an environment of the same name can be made again at once.
"""

from __future__ import annotations

from typing import Any

from ..aws import error_code, tag_map, unless_absent
from ..tokens import new_key_document
from .base import MISSING, PRESENT, UNKNOWN, Context, FieldDiff, Observed, Resource, sync_tags, user_tags

NOT_FOUND = "ResourceNotFoundException"


def token_mode(ctx: Context) -> bool:
    return ctx.spec.settings.auth == "token"


class SigningSecret(Resource):
    key = "signing_secret"
    kind = "secretsmanager-secret"
    depends_on = ("kms_key",)

    def name(self, ctx: Context) -> str:
        return ctx.names.signing_secret

    def wanted(self, ctx: Context) -> bool:
        return token_mode(ctx)

    def observe(self, ctx: Context) -> Observed | None:
        found = unless_absent(
            lambda: ctx.client("secretsmanager").describe_secret(SecretId=ctx.names.signing_secret), NOT_FOUND
        )
        if found is None:
            return None
        if found.get("DeletedDate"):
            return None  # scheduled for deletion: create restores it
        stages = [s for v in (found.get("VersionIdsToStages") or {}).values() for s in v]
        state = {
            "KmsKeyId": found.get("KmsKeyId") or MISSING,
            "CurrentValue": PRESENT if "AWSCURRENT" in stages else MISSING,
            "tags": user_tags(tag_map(found.get("Tags") or [])),
        }
        return Observed(state, {"arn": found["ARN"], "name": found["Name"]})

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {"KmsKeyId": ctx.kms_key_arn, "CurrentValue": PRESENT, "tags": ctx.tag_dict}

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["KmsKeyId"] == UNKNOWN:
            raise RuntimeError("signing_secret: the environment's KMS key is unknown; converge kms_key first")
        client = ctx.client("secretsmanager")
        try:
            made = client.create_secret(
                Name=ctx.names.signing_secret,
                Description=f"HS256 key signing the bearer tokens of envport environment {ctx.spec.suffix}",
                KmsKeyId=desired["KmsKeyId"],
                SecretString=new_key_document(),
                Tags=ctx.tag_list(),
            )
        except Exception as exc:
            if error_code(exc) not in ("ResourceExistsException", "InvalidRequestException"):
                raise
            # Left scheduled for deletion (or made by a run we did not see finish): take it back.
            client.restore_secret(SecretId=ctx.names.signing_secret)
            return self.converge(ctx, desired, self.existing(ctx, exc))
        return {"arn": made["ARN"], "name": made["Name"]}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        client = ctx.client("secretsmanager")
        arn = observed.attrs["arn"]
        changed = {d.field for d in diffs}
        if "KmsKeyId" in changed:
            client.update_secret(SecretId=arn, KmsKeyId=desired["KmsKeyId"])
        if "CurrentValue" in changed:
            client.put_secret_value(SecretId=arn, SecretString=new_key_document())
        if "tags" in changed:
            sync_tags(observed, desired, client.tag_resource, client.untag_resource, SecretId=arn)
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        try:
            ctx.client("secretsmanager").delete_secret(
                SecretId=observed.attrs["arn"], ForceDeleteWithoutRecovery=True
            )
        except Exception as exc:
            if error_code(exc) != NOT_FOUND:
                raise
