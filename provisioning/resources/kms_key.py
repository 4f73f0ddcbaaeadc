"""The environment's customer-managed KMS key: encrypts the table and the function's environment.

One key per environment (R-DB-4, R-FN-3), found by its alias. The alias is created after the
key, so a run that died in between leaves a key without an alias; observe finds such an orphan
by its tags and adopts it, so a re-run never makes a second key.
"""

from __future__ import annotations

import json
from typing import Any

from ..aws import error_code, paged_items, tolerating_absent
from .base import Context, FieldDiff, Observed, Resource, ownership_filters, sync_tags

ROLE_TAG = "envport:purpose"
ROLE_VALUE = "environment-key"


class KmsKey(Resource):
    key = "kms_key"
    kind = "kms-key"

    def name(self, ctx: Context) -> str:
        """Its alias: a key's id is random, the alias is what the environment names."""
        return ctx.names.kms_alias

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "alias": ctx.names.kms_alias,
            "KeyState": "Enabled",
            "KeyRotationEnabled": True,
            "policy": self._policy(ctx),
            "tags": self._tags(ctx),
        }

    def _policy(self, ctx: Context) -> dict[str, Any]:
        """The default root statement, plus CloudWatch: alarms publish to the key-encrypted topic.

        Without the CloudWatch statement every alarm action fails silently while the alarm
        itself looks healthy; an AWS-managed key's policy cannot be edited to allow it.
        """
        account = f"arn:{ctx.aws.partition}:iam::{ctx.account_id}:root"
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersKeyThroughIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": account},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                },
            ],
        }

    def _tags(self, ctx: Context) -> dict[str, str]:
        return {**ctx.tag_dict, ROLE_TAG: ROLE_VALUE}

    def observe(self, ctx: Context) -> Observed | None:
        kms = ctx.client("kms")
        alias = ctx.names.kms_alias
        try:
            meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
            found_alias: str | None = alias
        except Exception as exc:
            if error_code(exc) != "NotFoundException":
                raise
            meta, found_alias = self._find_orphan(ctx), None
            if meta is None:
                return None
        if meta["KeyState"] in ("PendingDeletion", "PendingReplicaDeletion"):
            return None
        key_id = meta["KeyId"]
        rotation = kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
        policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id).get("Tags", [])}
        state = {
            "alias": found_alias or "(missing)",
            "KeyState": meta["KeyState"],
            "KeyRotationEnabled": rotation,
            "policy": policy,
            "tags": tags,
        }
        return Observed(state, {"arn": meta["Arn"], "id": key_id, "alias_exists": found_alias is not None})

    def _find_orphan(self, ctx: Context) -> dict[str, Any] | None:
        """A key of this environment whose alias was never made (the run died in between)."""
        tagging = ctx.client("resourcegroupstaggingapi")
        items = paged_items(
            tagging,
            "get_resources",
            "ResourceTagMappingList",
            ResourceTypeFilters=["kms:key"],
            TagFilters=[*ownership_filters(ctx), {"Key": ROLE_TAG, "Values": [ROLE_VALUE]}],
        )
        for item in items:
            described = ctx.client("kms").describe_key(KeyId=item["ResourceARN"])
            meta: dict[str, Any] = described["KeyMetadata"]
            if meta["KeyState"] == "Enabled":
                return meta
        return None

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        kms = ctx.client("kms")
        meta = kms.create_key(
            Description=f"envport {ctx.spec.suffix}: table and function environment encryption",
            KeyUsage="ENCRYPT_DECRYPT",
            Policy=json.dumps(self._policy(ctx)),
            Tags=_kms_tags(self._tags(ctx)),
        )["KeyMetadata"]
        kms.enable_key_rotation(KeyId=meta["KeyId"])
        self._point_alias(ctx, meta["KeyId"])
        return {"arn": meta["Arn"], "id": meta["KeyId"], "alias_exists": True}

    def _point_alias(self, ctx: Context, key_id: str) -> None:
        kms = ctx.client("kms")
        try:
            kms.create_alias(AliasName=ctx.names.kms_alias, TargetKeyId=key_id)
        except Exception as exc:
            # The alias survived a key scheduled for deletion: move it to the live key.
            if error_code(exc) != "AlreadyExistsException":
                raise
            kms.update_alias(AliasName=ctx.names.kms_alias, TargetKeyId=key_id)

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        kms = ctx.client("kms")
        key_id = observed.attrs["id"]
        fields = {d.field for d in diffs}
        if "alias" in fields:
            self._point_alias(ctx, key_id)
        if "KeyState" in fields:
            kms.enable_key(KeyId=key_id)
        if "policy" in fields:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(desired["policy"]))
        if "KeyRotationEnabled" in fields:
            kms.enable_key_rotation(KeyId=key_id)
        if "tags" in fields:
            sync_tags(
                observed, desired, kms.tag_resource, kms.untag_resource, KeyId=key_id, tags_as=_kms_tags
            )
        return {**observed.attrs, "alias_exists": True}

    def delete(self, ctx: Context, observed: Observed) -> None:
        """KMS never deletes at once: the alias goes now, the key after the 7-day minimum window."""
        kms = ctx.client("kms")
        if observed.attrs.get("alias_exists"):
            with tolerating_absent("NotFoundException"):
                kms.delete_alias(AliasName=ctx.names.kms_alias)
        kms.schedule_key_deletion(KeyId=observed.attrs["id"], PendingWindowInDays=7)

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"kms_key_arn": attrs.get("arn")}


def _kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """KMS alone spells a tag TagKey/TagValue."""
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]
