"""The artifact bucket and the upload of artifacts into it, against moto (R-REL-1).

Every object call here runs after the bucket's TLS-only policy is in place: the local cloud's
fidelity fix (localcloud/s3/policy.py) evaluates its `aws:SecureTransport` condition as AWS
does instead of denying everything, so no test needs to order uploads before the policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from provisioning.artifacts import (
    REFERENCED_TAG,
    Artifact,
    ArtifactError,
    artifact_from_bytes,
    default_artifact,
    fetch_artifact,
    require_stored,
    set_referenced,
    upload_artifact,
)
from provisioning.aws import AwsClients, AwsTarget
from provisioning.reconcile import Action, assess, converge, remove
from provisioning.resources.artifact_bucket import (
    NONCURRENT_DAYS,
    UNREFERENCED_DAYS,
    ArtifactBucket,
    tls_only_policy,
)
from provisioning.resources.base import MISSING, Context

BUCKET = "envport-artifacts-123456789012-us-east-1"
ACCOUNT = "123456789012"


def _s3(region: str = "us-east-1") -> Any:
    """A client outside the run's recorder, for reading back and tampering."""
    return boto3.client("s3", region_name=region)


@pytest.fixture
def bucket(ctx: Context) -> Context:
    assert ctx.aws.account_id == ACCOUNT  # looked up before any counting
    converge(ArtifactBucket(), ctx)
    return ctx


def _artifact(text: str = "v1") -> Artifact:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("app.py", f"def handler(event, context):\n    return {text!r}\n")
    return artifact_from_bytes(buffer.getvalue(), handler="app.handler", source="test build")


def _capture(ctx: Context, operation: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    ctx.client("s3").meta.events.register(
        f"provide-client-params.s3.{operation}", lambda params, **_: seen.append(dict(params))
    )
    return seen


# --- the bucket ---


def test_bucket_is_created_with_every_setting(ctx: Context) -> None:  # R-REL-1
    assert ctx.aws.account_id == ACCOUNT
    before = ctx.aws.recorder.snapshot()
    outcome = converge(ArtifactBucket(), ctx)
    assert outcome.action is Action.CREATE
    calls = ctx.aws.recorder.since(before).by_operation
    assert calls == {
        "s3.HeadBucket": 1, "s3.CreateBucket": 1, "s3.PutBucketTagging": 1, "s3.PutPublicAccessBlock": 1,
        "s3.PutBucketEncryption": 1, "s3.PutBucketVersioning": 1, "s3.PutBucketLifecycleConfiguration": 1,
        "s3.PutBucketPolicy": 1,
    }  # fmt: skip
    s3 = _s3()
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }  # fmt: skip
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert policy == tls_only_policy(ctx)
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    noncurrent = lifecycle["expire-noncurrent-artifact-versions"]
    assert noncurrent["Status"] == "Enabled" and noncurrent["Filter"] == {"Prefix": "artifacts/"}
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": NONCURRENT_DAYS}
    assert noncurrent["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    unreferenced = lifecycle["expire-unreferenced-artifacts"]
    assert unreferenced["Filter"] == {
        "And": {"Prefix": "artifacts/", "Tags": [{"Key": REFERENCED_TAG, "Value": "false"}]}
    }
    assert unreferenced["Expiration"] == {"Days": UNREFERENCED_DAYS} and unreferenced["Status"] == "Enabled"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags == {"Project": "envport", "ManagedBy": "envport"}  # shared: no environment's tags
    assert outcome.attrs == {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"}
    assert ArtifactBucket().outputs(ctx, outcome.attrs) == {"artifact_bucket": BUCKET}


def test_bucket_second_apply_makes_no_mutating_call(bucket: Context) -> None:  # R-REL-1, R-OPS-1
    before = bucket.aws.recorder.snapshot()
    outcome = converge(ArtifactBucket(), bucket)
    calls = bucket.aws.recorder.since(before)
    assert outcome.action is Action.NOOP and outcome.diffs == []
    assert calls.mutating == 0
    assert calls.by_operation == {
        "s3.HeadBucket": 1, "s3.GetBucketTagging": 1, "s3.GetBucketVersioning": 1,
        "s3.GetBucketEncryption": 1, "s3.GetPublicAccessBlock": 1, "s3.GetBucketPolicy": 1,
        "s3.GetBucketLifecycleConfiguration": 1,
    }  # fmt: skip


def _suspend_versioning(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})


def _kms_encryption(s3: Any) -> None:
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/someone"}
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
    )


def _no_encryption(s3: Any) -> None:
    s3.delete_bucket_encryption(Bucket=BUCKET)


def _public_policy_allowed(s3: Any) -> None:
    block = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
             "RestrictPublicBuckets": True}  # fmt: skip
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration=block)


def _no_public_access_block(s3: Any) -> None:
    s3.delete_public_access_block(Bucket=BUCKET)


def _no_policy(s3: Any) -> None:
    s3.delete_bucket_policy(Bucket=BUCKET)


def _extra_statement(s3: Any) -> None:
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    policy["Statement"].append(
        {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    )  # fmt: skip
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))


def _shorter_lifecycle(s3: Any) -> None:
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    for rule in rules:
        if "NoncurrentVersionExpiration" in rule:
            rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": 1}
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": rules})


def _no_lifecycle(s3: Any) -> None:
    s3.delete_bucket_lifecycle(Bucket=BUCKET)


def _tags_changed(s3: Any) -> None:
    tags = [{"Key": "ManagedBy", "Value": "envport"}, {"Key": "Project", "Value": "other"},
            {"Key": "Stray", "Value": "x"}]  # fmt: skip
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": tags})


@pytest.mark.parametrize(
    "tamper, field, found, repair",
    [
        (_suspend_versioning, "versioning", "Suspended", "PutBucketVersioning"),
        (_kms_encryption, "encryption", {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/someone"},
         "PutBucketEncryption"),
        (_no_encryption, "encryption", MISSING, "PutBucketEncryption"),
        (_public_policy_allowed, "public_access_block", None, "PutPublicAccessBlock"),
        (_no_public_access_block, "public_access_block", MISSING, "PutPublicAccessBlock"),
        (_no_policy, "policy:DenyInsecureTransport", MISSING, "PutBucketPolicy"),
        (_extra_statement, "policy:Open", None, "PutBucketPolicy"),
        (_shorter_lifecycle, "lifecycle:expire-noncurrent-artifact-versions", None,
         "PutBucketLifecycleConfiguration"),
        (_no_lifecycle, "lifecycle:expire-unreferenced-artifacts", MISSING,
         "PutBucketLifecycleConfiguration"),
        (_tags_changed, "tags", {"ManagedBy": "envport", "Project": "other", "Stray": "x"},
         "PutBucketTagging"),
    ],
)  # fmt: skip
def test_bucket_drift_is_detected_and_repaired_with_one_call(  # R-REL-1, R-OPS-2, R-VER-3
    bucket: Context, tamper: Callable[[Any], None], field: str, found: Any, repair: str
) -> None:
    tamper(_s3())
    outcome, _desired, _observed = assess(ArtifactBucket(), bucket)
    findings = {d.field: d.found for d in outcome.diffs}
    assert outcome.action is Action.UPDATE and field in findings
    if found is not None:
        assert findings[field] == found
    before = bucket.aws.recorder.snapshot()
    converge(ArtifactBucket(), bucket)
    calls = bucket.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation[f"s3.{repair}"] == 1
    after, _, _ = assess(ArtifactBucket(), bucket)
    assert after.action is Action.NOOP, after.diffs


def test_a_bucket_not_managed_by_envport_is_not_adopted(ctx: Context) -> None:  # R-REL-1
    _s3().create_bucket(Bucket=BUCKET)
    with pytest.raises(RuntimeError, match="not tagged ManagedBy=envport"):
        converge(ArtifactBucket(), ctx)
    assert ctx.aws.recorder.snapshot().mutating == 0


def test_bucket_outside_us_east_1_names_its_region(mocked_aws: None, ctx: Context) -> None:  # R-REL-1
    aws = AwsClients(AwsTarget(region="eu-west-2"))
    run = Context(spec=ctx.spec, aws=aws, sleep=lambda _s: None)
    converge(ArtifactBucket(), run)
    name = "envport-artifacts-123456789012-eu-west-2"
    assert _s3("eu-west-2").get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-2"
    assert converge(ArtifactBucket(), run).action is Action.NOOP


def test_bucket_is_shared_and_kept_when_an_environment_goes(bucket: Context) -> None:  # R-REL-1
    assert ArtifactBucket.shared is True
    assert remove(ArtifactBucket(), bucket).action is Action.DELETE  # reported, but delete() keeps it
    assert _s3().head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200


# --- uploads ---


@pytest.mark.heavy
def test_an_artifact_is_uploaded_once_with_its_checksum(bucket: Context) -> None:  # R-REL-1
    artifact = _artifact()
    sent = _capture(bucket, "PutObject")
    before = bucket.aws.recorder.snapshot()
    location = upload_artifact(bucket.aws, artifact)
    assert (location.bucket, location.key) == (BUCKET, f"artifacts/{artifact.sha256}.zip")
    assert location.uri == f"s3://{BUCKET}/artifacts/{artifact.sha256}.zip"
    assert location.code() == {"S3Bucket": BUCKET, "S3Key": location.key}
    assert upload_artifact(bucket.aws, artifact) == location  # the same bytes again: not uploaded
    calls = bucket.aws.recorder.since(before).by_operation
    assert calls == {"s3.HeadObject": 2, "s3.PutObject": 1}
    (params,) = sent
    assert params["ChecksumAlgorithm"] == "SHA256" and params["ChecksumSHA256"] == artifact.sha256_b64
    assert params["ExpectedBucketOwner"] == ACCOUNT
    head = _s3().head_object(Bucket=BUCKET, Key=location.key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == artifact.sha256_b64 and head["ContentLength"] == artifact.size_bytes
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["handler"] == "app.handler"
    assert _s3().get_object(Bucket=BUCKET, Key=location.key)["Body"].read() == artifact.data
    tags = _s3().get_object_tagging(Bucket=BUCKET, Key=location.key)["TagSet"]
    assert tags == [{"Key": REFERENCED_TAG, "Value": "true"}]


def test_an_object_overwritten_under_the_key_is_replaced(bucket: Context) -> None:  # R-REL-1
    artifact = _artifact()
    location = upload_artifact(bucket.aws, artifact)
    _s3().put_object(Bucket=BUCKET, Key=location.key, Body=b"other bytes", ChecksumAlgorithm="SHA256")
    with pytest.raises(ArtifactError, match="holds other bytes"):
        fetch_artifact(bucket.aws, artifact.sha256, source="promoted from stg1")
    with pytest.raises(ArtifactError, match="holds other bytes"):
        require_stored(bucket.aws, artifact.sha256)
    before = bucket.aws.recorder.snapshot()
    upload_artifact(bucket.aws, artifact)
    assert bucket.aws.recorder.since(before).by_operation == {"s3.HeadObject": 1, "s3.PutObject": 1}
    assert require_stored(bucket.aws, artifact.sha256) == location
    versions = _s3().list_object_versions(Bucket=BUCKET, Prefix=location.key)["Versions"]
    assert len(versions) == 3  # versioning keeps every one for the lifecycle to expire


@pytest.mark.heavy
def test_a_stored_artifact_is_fetched_verified_for_promotion(bucket: Context) -> None:  # R-REL-1, R-REL-6
    artifact = _artifact("promoted")
    upload_artifact(bucket.aws, artifact)
    fetched = fetch_artifact(bucket.aws, artifact.sha256, source="promoted from stg1")
    assert fetched.data == artifact.data and fetched.sha256 == artifact.sha256
    assert fetched.handler == "app.handler"  # from the metadata recorded at upload
    assert fetched.source == "promoted from stg1" and fetched.built_at == artifact.built_at
    with pytest.raises(ArtifactError, match="is missing"):
        fetch_artifact(bucket.aws, "0" * 64, source="promoted from stg1")
    with pytest.raises(ArtifactError, match="64 lower-case hex"):
        fetch_artifact(bucket.aws, "not-a-hash", source="x")
    with pytest.raises(ArtifactError, match="is missing"):
        require_stored(bucket.aws, "0" * 64)


@pytest.mark.heavy
def test_unreferenced_artifacts_are_tagged_for_the_lifecycle_rule(bucket: Context) -> None:  # R-REL-1
    artifact = default_artifact()
    location = upload_artifact(bucket.aws, artifact)
    set_referenced(bucket.aws, artifact.sha256, False)
    tags = _s3().get_object_tagging(Bucket=BUCKET, Key=location.key)["TagSet"]
    assert tags == [{"Key": REFERENCED_TAG, "Value": "false"}]
    rule = {r["ID"]: r for r in _s3().get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}[
        "expire-unreferenced-artifacts"
    ]
    assert {"Key": REFERENCED_TAG, "Value": "false"} in rule["Filter"]["And"]["Tags"]
    set_referenced(bucket.aws, artifact.sha256, True)
    tags = _s3().get_object_tagging(Bucket=BUCKET, Key=location.key)["TagSet"]
    assert tags == [{"Key": REFERENCED_TAG, "Value": "true"}]


def test_plain_http_requests_are_refused_by_the_policy(
    bucket: Context, monkeypatch: pytest.MonkeyPatch
) -> None:  # R-REL-1
    """The local cloud evaluates requests as plain HTTP when asked (localcloud/s3/policy.py):
    then the bucket's TLS-only statement refuses the upload, as AWS would."""
    monkeypatch.setenv("LOCALCLOUD_S3_SECURE_TRANSPORT", "false")
    with pytest.raises(Exception, match=r"AccessDenied|Forbidden|403"):
        upload_artifact(bucket.aws, _artifact("over http"))
