"""The S3 bucket that holds function code artifacts (R-REL-1), one per account and region.

Shared like API Gateway's account role: every environment of the account and region stores its
artifacts here (`artifacts/<sha256>.zip`), which is what lets a promotion ship the very object
another environment runs, and tearing one environment down keeps it.

Settings, each read back and compared (drift), each repaired by its own call:
- versioning Enabled: an overwritten or deleted artifact stays recoverable for a while;
- default encryption SSE-S3 (AES256), not an environment's KMS key: the bucket outlives every
  environment and their keys are deleted with them (a deleted key would make every artifact it
  encrypted unreadable, including ones other environments run); with SSE-S3 neither the
  deploying principal nor Lambda's GetObject needs a kms:Decrypt grant, and nothing in a zip
  of code is more secret than the function's configuration;
- the public access block, all four settings on;
- a bucket policy denying every request not made over TLS (`aws:SecureTransport` false), put
  last so the bucket is complete before it starts refusing anything;
- a lifecycle: noncurrent versions expire after NONCURRENT_DAYS; objects tagged
  `envport:referenced=false` expire after UNREFERENCED_DAYS (then become noncurrent and follow
  the first rule), and incomplete multipart uploads are aborted. "No release refers to it" is
  expressed by that object tag: an artifact is uploaded tagged `true`, and the release
  bookkeeping (`artifacts.set_referenced`) turns it to `false` once no environment or retained
  version uses it. S3 lifecycle filters can only read prefixes, tags and sizes, so a tag is the
  one way to tell S3 which objects are unreferenced.

Ownership: S3 names are global, so every call carries `ExpectedBucketOwner` (a bucket of our
name in another account answers 403 and is never used), and a bucket of our name in this
account is adopted only if it carries `ManagedBy=envport`: changing someone else's policy or
lifecycle could expire their objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..artifacts import REFERENCED_TAG
from ..aws import error_code, tag_map
from ..names import ARTIFACT_PREFIX, MANAGED_BY, PROJECT, artifact_bucket
from .apigw_account import statement_fields
from .base import MISSING, Context, FieldDiff, Observed, Resource, key_value_list, user_tags

NONCURRENT_DAYS = 30
UNREFERENCED_DAYS = 30
ABORT_MULTIPART_DAYS = 7
NONCURRENT_RULE = "expire-noncurrent-artifact-versions"
UNREFERENCED_RULE = "expire-unreferenced-artifacts"
TLS_STATEMENT = "DenyInsecureTransport"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION = {"SSEAlgorithm": "AES256"}
# The parts of a lifecycle rule we set and compare (S3 adds nothing else to them).
_RULE_KEYS = (
    "ID",
    "Status",
    "Filter",
    "Expiration",
    "NoncurrentVersionExpiration",
    "AbortIncompleteMultipartUpload",
)
_MISSING_BUCKET = ("404", "NoSuchBucket", "NotFound")


def bucket_name(ctx: Context) -> str:
    return artifact_bucket(ctx.account_id, ctx.region)


def bucket_tags() -> dict[str, str]:
    """Shared by every environment, so no Environment/Stage/Owner tag (like the API Gateway role)."""
    return {"Project": PROJECT, "ManagedBy": MANAGED_BY}


def tls_only_policy(ctx: Context) -> dict[str, Any]:
    """Deny any request, by anyone, that did not come over TLS."""
    arn = f"arn:{ctx.aws.partition}:s3:::{bucket_name(ctx)}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TLS_STATEMENT,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def lifecycle_rules() -> list[dict[str, Any]]:
    return [
        {
            "ID": NONCURRENT_RULE,
            "Status": "Enabled",
            "Filter": {"Prefix": ARTIFACT_PREFIX},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
        },
        {
            "ID": UNREFERENCED_RULE,
            "Status": "Enabled",
            "Filter": {
                "And": {"Prefix": ARTIFACT_PREFIX, "Tags": [{"Key": REFERENCED_TAG, "Value": "false"}]}
            },
            "Expiration": {"Days": UNREFERENCED_DAYS},
        },
    ]


def _rule_fields(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """One field per rule, keyed by ID, so a changed or extra rule is its own finding."""
    return {
        f"lifecycle:{rule.get('ID') or f'#{index}'}": {k: rule[k] for k in _RULE_KEYS if rule.get(k)}
        for index, rule in enumerate(rules)
    }


UNTAGGED_REREADS = 6


def _tags(s3: Any, where: dict[str, Any]) -> dict[str, str]:
    tag_set = _read(lambda: s3.get_bucket_tagging(**where), "NoSuchTagSet", {}).get("TagSet", [])
    return tag_map(tag_set)


class ArtifactBucket(Resource):
    key = "artifact_bucket"
    kind = "s3-bucket"
    shared = True

    def name(self, ctx: Context) -> str:
        return bucket_name(ctx)

    def observe(self, ctx: Context) -> Observed | None:
        s3, name, owner = ctx.client("s3"), bucket_name(ctx), ctx.account_id
        where = {"Bucket": name, "ExpectedBucketOwner": owner}
        try:
            s3.head_bucket(**where)
        except Exception as exc:
            code = error_code(exc)
            if code in _MISSING_BUCKET:
                return None
            if code in ("403", "AccessDenied", "Forbidden"):
                raise RuntimeError(
                    f"S3 bucket {name} exists but is not this account's ({owner}) or refuses it; "
                    "artifacts are never stored in a bucket another account owns"
                ) from exc
            raise
        tags = _tags(s3, where)
        for _ in range(UNTAGGED_REREADS):  # another environment's first provision made it a moment
            if tags.get("ManagedBy") == MANAGED_BY:  # ago and tags it next (a fleet provisioned at once)
                break
            ctx.sleep(0.5)
            tags = _tags(s3, where)
        if tags.get("ManagedBy") != MANAGED_BY:
            raise RuntimeError(
                f"S3 bucket {name} exists in this account but is not tagged ManagedBy={MANAGED_BY}: envport "
                "does not adopt it (its lifecycle would expire objects); tag it if it is envport's"
            )
        versioning = s3.get_bucket_versioning(**where).get("Status", MISSING)
        encryption = _read(
            lambda: s3.get_bucket_encryption(**where), "ServerSideEncryptionConfigurationNotFoundError", {}
        )
        block = _read(lambda: s3.get_public_access_block(**where), "NoSuchPublicAccessBlockConfiguration", {})
        policy = _read(lambda: s3.get_bucket_policy(**where), "NoSuchBucketPolicy", {}).get("Policy")
        lifecycle = _read(
            lambda: s3.get_bucket_lifecycle_configuration(**where), "NoSuchLifecycleConfiguration", {}
        )
        state: dict[str, Any] = {
            "versioning": versioning,
            "encryption": _default_encryption(encryption),
            "public_access_block": block.get("PublicAccessBlockConfiguration", MISSING),
            **(statement_fields("policy", policy) if policy else {}),
            **_rule_fields(lifecycle.get("Rules", [])),
            "tags": user_tags(tags),
        }
        return Observed(state=state, attrs={"name": name, "arn": f"arn:{ctx.aws.partition}:s3:::{name}"})

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "versioning": "Enabled",
            "encryption": dict(ENCRYPTION),
            "public_access_block": dict(PUBLIC_ACCESS_BLOCK),
            **statement_fields("policy", tls_only_policy(ctx)),
            **_rule_fields(lifecycle_rules()),
            "tags": bucket_tags(),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        s3, name = ctx.client("s3"), bucket_name(ctx)
        params: dict[str, Any] = {"Bucket": name}
        if ctx.region != "us-east-1":  # us-east-1 refuses a LocationConstraint naming itself
            params["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
        try:
            s3.create_bucket(**params)
        except Exception as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise RuntimeError(
                    f"S3 bucket name {name} is taken by another account; artifacts cannot be stored there"
                ) from exc
            if error_code(exc) != "BucketAlreadyOwnedByYou":  # a concurrent run made it: finish it
                raise
        # Tags first, so a concurrent run sees it as ours at once; the policy last.
        self._apply(ctx, {"tags", "public_access_block", "encryption", "versioning", "lifecycle", "policy"})
        return {"name": name, "arn": f"arn:{ctx.aws.partition}:s3:::{name}"}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        self._apply(ctx, {d.field.split(":", 1)[0] for d in diffs})
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """Never deleted with an environment: every environment of the account stores its artifacts
        here, and a promotion reads another's. The engine skips shared resources anyway."""

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"artifact_bucket": attrs.get("name")}

    def _apply(self, ctx: Context, groups: set[str]) -> None:
        """One call per setting group that differs, in a fixed order with the policy last."""
        s3 = ctx.client("s3")
        where = {"Bucket": bucket_name(ctx), "ExpectedBucketOwner": ctx.account_id}
        if "tags" in groups:
            s3.put_bucket_tagging(**where, Tagging={"TagSet": key_value_list(bucket_tags())})
        if "public_access_block" in groups:
            s3.put_public_access_block(**where, PublicAccessBlockConfiguration=dict(PUBLIC_ACCESS_BLOCK))
        if "encryption" in groups:
            s3.put_bucket_encryption(
                **where,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": dict(ENCRYPTION), "BucketKeyEnabled": False}
                    ]
                },
            )
        if "versioning" in groups:
            s3.put_bucket_versioning(**where, VersioningConfiguration={"Status": "Enabled"})
        if "lifecycle" in groups:
            s3.put_bucket_lifecycle_configuration(
                **where, LifecycleConfiguration={"Rules": lifecycle_rules()}
            )
        if "policy" in groups:
            s3.put_bucket_policy(**where, Policy=json.dumps(tls_only_policy(ctx)))


def _default_encryption(response: dict[str, Any]) -> Any:
    rules = (response.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    if not rules:
        return MISSING
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    return {k: v for k, v in default.items() if k in ("SSEAlgorithm", "KMSMasterKeyID") and v}


def _read(call: Callable[[], dict[str, Any]], not_found: str, default: dict[str, Any]) -> dict[str, Any]:
    """A bucket setting, or `default` when S3 says it was never set."""
    try:
        return call()
    except Exception as exc:
        if error_code(exc) == not_found:
            return default
        raise


__all__ = ["ArtifactBucket", "bucket_name", "lifecycle_rules", "tls_only_policy"]
