"""The `token` mode's signing key, in Secrets Manager (R-AUTH-1).

The key is generated once, on create (`tokens.new_key_document`), encrypted with the
environment's KMS key, and never compared or printed: drift looks at the secret's key, tags and
whether it still has a current value, not at the value itself. Teardown deletes it without the
7-day recovery window, so an environment of the same name can be made again at once.
"""

from __future__ import annotations

from typing import Any

from ..aws import error_code
from ..tokens import new_key_document
from .base import MISSING, PRESENT, UNKNOWN, Context, FieldDiff, Observed, Resource, repair_tags

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
        try:
            found = ctx.client("secretsmanager").describe_secret(SecretId=ctx.names.signing_secret)
        except Exception as exc:
            if error_code(exc) == NOT_FOUND:
                return None
            raise
        if found.get("DeletedDate"):
            return None  # scheduled for deletion: create restores it
        stages = [s for v in (found.get("VersionIdsToStages") or {}).values() for s in v]
        state = {
            "KmsKeyId": found.get("KmsKeyId") or MISSING,
            "CurrentValue": PRESENT if "AWSCURRENT" in stages else MISSING,
            "tags": {
                t["Key"]: t["Value"] for t in found.get("Tags") or [] if not t["Key"].startswith("aws:")
            },
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
            observed = self.observe(ctx)
            if observed is None:
                raise
            return self.update(ctx, desired, observed, self.diff(ctx, desired, observed))
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
            repair_tags(
                observed.state.get("tags"),
                desired["tags"],
                tag=lambda tags: client.tag_resource(
                    SecretId=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
                ),
                untag=lambda keys: client.untag_resource(SecretId=arn, TagKeys=keys),
            )
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        try:
            ctx.client("secretsmanager").delete_secret(
                SecretId=observed.attrs["arn"], ForceDeleteWithoutRecovery=True
            )
        except Exception as exc:
            if error_code(exc) != NOT_FOUND:
                raise
