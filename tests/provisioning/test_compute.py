"""The compute side: dead-letter queue, execution role and function, against moto (R-FN-*, R-IAM-*)."""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.awslambda.utils import get_backend

from provisioning.artifacts import Artifact, ArtifactError, artifact_from_directory, default_artifact
from provisioning.aws import AwsClients, AwsTarget
from provisioning.bundle import DEFAULT_ROOT
from provisioning.names import HANDLER, INDEX_NAME
from provisioning.reconcile import Action, assess, converge, remove
from provisioning.resources.artifact_bucket import ArtifactBucket
from provisioning.resources.base import MISSING, UNKNOWN, Context
from provisioning.resources.dlq import RETENTION_SECONDS, DeadLetterQueue
from provisioning.resources.function import Function
from provisioning.resources.kms_key import KmsKey
from provisioning.resources.log_group import function_log_group
from provisioning.resources.role import INDEX_ACTIONS, TABLE_ACTIONS, FunctionRole
from provisioning.spec import EnvironmentSpec, spec_from_dict

REGION = "us-east-1"
ROLE_NOT_READY = "The role defined for the function cannot be assumed by Lambda."


_READER = boto3.Session(region_name=REGION)


def _c(service: str) -> Any:
    """A client outside the run's recorder, for reading back and tampering."""
    return _READER.client(service)


@functools.cache
def _real_artifact() -> Artifact:
    return default_artifact()


def _respec(spec: EnvironmentSpec, **overrides: Any) -> EnvironmentSpec:
    data = spec.to_dict()
    data["overrides"] = {**data["overrides"], **overrides}
    return spec_from_dict(data)


def _context(
    ctx: Context,
    spec: EnvironmentSpec | None = None,
    aws: AwsClients | None = None,
    artifact: Artifact | None = None,
) -> Context:
    """A new run that knows what the earlier run published (the default artifact is built once per
    module and handed over as the engine hands a release's artifact, unless the spec names one)."""
    spec = spec or ctx.spec
    options = {} if spec.artifact_sha256 else {"artifact": artifact or _real_artifact()}
    return Context(
        spec=spec, aws=aws or ctx.aws, attrs=dict(ctx.attrs), sleep=ctx.sleep, options=options,
    )  # fmt: skip


def _fields(outcome: Any) -> dict[str, tuple[Any, Any]]:
    return {d.field: (d.wanted, d.found) for d in outcome.diffs}


def _capture(ctx: Context, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the run's lambda client makes from now on."""
    seen: list[dict[str, Any]] = []
    ctx.client("lambda").meta.events.register(
        f"provide-client-params.lambda.{operation}", lambda params, **_: seen.append(dict(params))
    )
    return seen


@pytest.fixture(scope="module")
def session() -> boto3.Session:
    """One session for the module: botocore then loads each service model once, not per test."""
    return boto3.Session(region_name=REGION)


@pytest.fixture
def aws(mocked_aws: None, session: boto3.Session) -> AwsClients:
    return AwsClients(AwsTarget(region=REGION), session=session)


def _clients(session: boto3.Session, *hooks: Any) -> AwsClients:
    return AwsClients(AwsTarget(region=REGION), hooks=hooks, session=session)


@pytest.fixture(autouse=True)
def _known_account(ctx: Context) -> None:
    """Look the account id up before counting calls, so counts show the resource's calls only."""
    assert ctx.aws.account_id == "123456789012"


@pytest.fixture
def key_arn(ctx: Context) -> str:
    converge(KmsKey(), ctx)
    return str(ctx.attrs["kms_key"]["arn"])


@pytest.fixture
def deps(ctx: Context, key_arn: str) -> Context:
    """What the function needs first, each made by its own resource class (R-FN-7: the log group;
    R-REL-1: the artifact bucket its code is read from)."""
    for resource in (function_log_group(), DeadLetterQueue(), FunctionRole(), ArtifactBucket()):
        converge(resource, ctx)
    return ctx


@pytest.fixture
def fn(deps: Context) -> Context:
    converge(Function(), deps)
    return deps


def _artifact_from(tmp_path: Path, value: str) -> Artifact:
    root = tmp_path / "lambda_bundle"
    root.mkdir(exist_ok=True)
    (root / "__init__.py").write_text("")
    (root / "handler.py").write_text(f"def lambda_handler(event, context):\n    return {value!r}\n")
    return artifact_from_directory(root)


# =============================================================================================
# Dead-letter queue (R-FN-5)
# =============================================================================================


def test_dlq_created_encrypted_with_retention_and_tags(ctx: Context) -> None:  # R-FN-5, R-ENV-3
    before = ctx.aws.recorder.snapshot()
    outcome = converge(DeadLetterQueue(), ctx)
    assert outcome.action is Action.CREATE
    assert ctx.aws.recorder.since(before).by_operation == {"sqs.GetQueueUrl": 1, "sqs.CreateQueue": 1}

    sqs = _c("sqs")
    url = sqs.get_queue_url(QueueName="envport-dev1-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["MessageRetentionPeriod"] == str(RETENTION_SECONDS) == "1209600"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {
        "Environment": "dev1", "Stage": "dev", "Project": "envport", "ManagedBy": "envport",
        "Owner": "team-a", "CostCentre": "cc-42",
    }  # fmt: skip
    assert outcome.attrs == {"url": url, "arn": "arn:aws:sqs:us-east-1:123456789012:envport-dev1-dlq"}


def test_dlq_second_run_is_a_noop(ctx: Context) -> None:  # R-OPS-1
    converge(DeadLetterQueue(), ctx)
    before = ctx.aws.recorder.snapshot()
    outcome = converge(DeadLetterQueue(), ctx)
    calls = ctx.aws.recorder.since(before)
    assert outcome.action is Action.NOOP and outcome.diffs == []
    assert calls.mutating == 0
    assert calls.by_operation == {"sqs.GetQueueUrl": 1, "sqs.GetQueueAttributes": 1, "sqs.ListQueueTags": 1}
    assert outcome.attrs["arn"].endswith(":envport-dev1-dlq")


def test_dlq_drift_is_reported_and_repaired(ctx: Context) -> None:  # R-OPS-2, R-VER-3
    url = converge(DeadLetterQueue(), ctx).attrs["url"]
    sqs = _c("sqs")
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"MessageRetentionPeriod": "60", "SqsManagedSseEnabled": "false"}
    )
    sqs.untag_queue(QueueUrl=url, TagKeys=["Owner"])
    sqs.tag_queue(QueueUrl=url, Tags={"Stray": "x"})

    outcome, _, _ = assess(DeadLetterQueue(), ctx)
    fields = _fields(outcome)
    assert fields["MessageRetentionPeriod"] == ("1209600", "60")
    assert fields["SqsManagedSseEnabled"] == ("true", "false")
    wanted_tags, found_tags = fields["tags"]
    assert wanted_tags["Owner"] == "team-a" and "Owner" not in found_tags and found_tags["Stray"] == "x"

    before = ctx.aws.recorder.snapshot()
    assert converge(DeadLetterQueue(), ctx).action is Action.UPDATE
    assert ctx.aws.recorder.since(before).mutating == 3  # SetQueueAttributes, TagQueue, UntagQueue
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["MessageRetentionPeriod"], attributes["SqsManagedSseEnabled"]) == ("1209600", "true")
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == ctx.spec.tags
    assert converge(DeadLetterQueue(), ctx).action is Action.NOOP


def test_dlq_delete_leaves_nothing_and_is_repeatable(ctx: Context) -> None:  # R-OPS-4
    converge(DeadLetterQueue(), ctx)
    assert remove(DeadLetterQueue(), ctx).action is Action.DELETE
    assert _c("sqs").list_queues(QueueNamePrefix="envport-dev1").get("QueueUrls", []) == []
    assert remove(DeadLetterQueue(), ctx).action is Action.NOOP


# =============================================================================================
# Execution role (R-IAM-1, R-IAM-2)
# =============================================================================================


def _live_policy() -> dict[str, dict[str, Any]]:
    document = _c("iam").get_role_policy(RoleName="envport-dev1-fn-role", PolicyName="envport-dev1-fn-access")
    return {s["Sid"]: s for s in document["PolicyDocument"]["Statement"]}


def test_role_trusts_only_lambda_and_grants_least_privilege(ctx: Context, key_arn: str) -> None:
    # R-IAM-1, R-IAM-2
    before = ctx.aws.recorder.snapshot()
    outcome = converge(FunctionRole(), ctx)
    assert ctx.aws.recorder.since(before).by_operation == {
        "iam.GetRole": 1, "iam.CreateRole": 1, "iam.PutRolePolicy": 1,
    }  # fmt: skip
    iam = _c("iam")
    role = iam.get_role(RoleName="envport-dev1-fn-role")["Role"]
    assert outcome.attrs == {"arn": role["Arn"], "name": "envport-dev1-fn-role"}
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == ctx.spec.tags  # R-ENV-3
    assert iam.list_role_policies(RoleName="envport-dev1-fn-role")["PolicyNames"] == [
        "envport-dev1-fn-access"
    ]
    assert iam.list_attached_role_policies(RoleName="envport-dev1-fn-role")["AttachedPolicies"] == []

    arn = "arn:aws:{}:us-east-1:123456789012:{}".format
    table = arn("dynamodb", "table/envport-dev1-items")
    log_group = arn("logs", "log-group:/aws/lambda/envport-dev1-api")
    assert _live_policy() == {
        "ReadWriteDeleteItemsInOwnTable": {
            "Sid": "ReadWriteDeleteItemsInOwnTable", "Effect": "Allow",
            "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"], "Resource": [table],
        },
        "ListItemsNewestFirstViaCreatedAtIndex": {
            "Sid": "ListItemsNewestFirstViaCreatedAtIndex", "Effect": "Allow",
            "Action": ["dynamodb:Query"], "Resource": [f"{table}/index/{INDEX_NAME}"],
        },
        "WriteOwnLogStreamsGroupIsPreCreated": {
            "Sid": "WriteOwnLogStreamsGroupIsPreCreated", "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group, f"{log_group}:*"],
        },
        "XRayTraceWritesAwsRequiresStarResource": {
            "Sid": "XRayTraceWritesAwsRequiresStarResource", "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": ["*"],
        },
        "SendFailedAsyncEventsToOwnDlq": {
            "Sid": "SendFailedAsyncEventsToOwnDlq", "Effect": "Allow",
            "Action": ["sqs:SendMessage"], "Resource": [arn("sqs", "envport-dev1-dlq")],
        },
        "DecryptEnvVarsWithEnvironmentKey": {
            "Sid": "DecryptEnvVarsWithEnvironmentKey", "Effect": "Allow",
            "Action": ["kms:Decrypt"], "Resource": [key_arn],
        },
    }  # fmt: skip
    for sid, statement in _live_policy().items():
        assert not any("*" in action for action in statement["Action"]), sid
        assert "*" not in statement["Resource"] or sid.startswith("XRay"), sid
        assert "logs:CreateLogGroup" not in statement["Action"]


def test_role_grants_exactly_the_dynamodb_calls_the_handler_makes() -> None:  # R-IAM-1
    """Every `client().<call>(` in lambda_bundle/store.py, as IAM actions, equals the policy's."""
    tree = ast.parse((DEFAULT_ROOT / "store.py").read_text())
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and getattr(node.func.value.func, "id", None) == "client"
    }
    actions = {"dynamodb:" + "".join(part.title() for part in call.split("_")) for call in calls}
    assert actions == set(TABLE_ACTIONS) | set(INDEX_ACTIONS)
    assert "dynamodb:Scan" not in actions


def test_role_second_run_is_a_noop(ctx: Context, key_arn: str) -> None:  # R-OPS-1
    converge(FunctionRole(), ctx)
    before = ctx.aws.recorder.snapshot()
    outcome = converge(FunctionRole(), ctx)
    calls = ctx.aws.recorder.since(before)
    assert outcome.action is Action.NOOP and calls.mutating == 0
    assert calls.by_operation == {
        "iam.GetRole": 1, "iam.ListRolePolicies": 1, "iam.GetRolePolicy": 1,
        "iam.ListAttachedRolePolicies": 1,
    }  # fmt: skip


def test_role_drift_each_extra_grant_is_its_own_finding_and_is_removed(ctx: Context, key_arn: str) -> None:
    # R-IAM-1, R-IAM-2, R-OPS-2
    converge(FunctionRole(), ctx)
    iam = _c("iam")
    name, policy = "envport-dev1-fn-role", "envport-dev1-fn-access"
    document = iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
    broad = {"Sid": "Broad", "Effect": "Allow", "Action": "*", "Resource": "*"}
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "SendFailedAsyncEventsToOwnDlq"]
    document["Statement"].append(broad)
    iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(document))
    iam.put_role_policy(RoleName=name, PolicyName="sneaky", PolicyDocument=json.dumps(document))
    managed = iam.create_policy(PolicyName="admin-ish", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [broad]}))["Policy"]["Arn"]  # fmt: skip
    iam.attach_role_policy(RoleName=name, PolicyArn=managed)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}}]}  # fmt: skip
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))

    outcome, _, _ = assess(FunctionRole(), ctx)
    fields = _fields(outcome)
    assert fields["policy.Statement[Broad]"] == (
        MISSING,
        '{"Action":["*"],"Effect":"Allow","Resource":["*"],"Sid":"Broad"}',
    )
    wanted_dlq, found_dlq = fields["policy.Statement[SendFailedAsyncEventsToOwnDlq]"]
    assert json.loads(wanted_dlq)["Action"] == ["sqs:SendMessage"] and found_dlq == MISSING
    assert fields["OtherInlinePolicies"] == ([], ["sneaky"])
    assert fields["AttachedManagedPolicies"] == ([], [managed])
    assert "ec2.amazonaws.com" in fields["AssumeRolePolicyDocument"][1]
    assert "ec2.amazonaws.com" not in fields["AssumeRolePolicyDocument"][0]
    assert len(fields) == 5

    converge(FunctionRole(), ctx)
    assert set(_live_policy()) == {
        "ReadWriteDeleteItemsInOwnTable", "ListItemsNewestFirstViaCreatedAtIndex",
        "WriteOwnLogStreamsGroupIsPreCreated", "XRayTraceWritesAwsRequiresStarResource",
        "SendFailedAsyncEventsToOwnDlq", "DecryptEnvVarsWithEnvironmentKey",
    }  # fmt: skip
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == [policy]
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    principal = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
    assert principal == {"Service": "lambda.amazonaws.com"}
    assert converge(FunctionRole(), ctx).action is Action.NOOP


def test_role_crash_after_create_is_finished_not_duplicated(ctx: Context, key_arn: str) -> None:  # R-OPS-1
    """A run that died between CreateRole and PutRolePolicy/tagging: the next run updates it."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}]}  # fmt: skip
    _c("iam").create_role(RoleName="envport-dev1-fn-role", AssumeRolePolicyDocument=json.dumps(trust))
    before = ctx.aws.recorder.snapshot()
    assert converge(FunctionRole(), ctx).action is Action.UPDATE
    calls = ctx.aws.recorder.since(before).by_operation
    assert "iam.CreateRole" not in calls and calls["iam.PutRolePolicy"] == 1 and calls["iam.TagRole"] == 1
    assert len(_live_policy()) == 6
    assert converge(FunctionRole(), ctx).action is Action.NOOP


def test_role_kms_statement_waits_for_the_key(ctx: Context) -> None:  # R-FN-3
    assert "kms_key" in FunctionRole.depends_on
    desired = FunctionRole().desired(ctx)  # no kms_key yet, no key in the spec
    assert desired["policy.Statement[DecryptEnvVarsWithEnvironmentKey]"] == UNKNOWN
    with pytest.raises(RuntimeError, match="DecryptEnvVarsWithEnvironmentKey"):
        FunctionRole().create(ctx, desired)
    assert ctx.aws.recorder.snapshot().mutating == 0

    own_key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    named = _context(ctx, spec=spec_from_dict({**ctx.spec.to_dict(), "kms_key_arn": own_key}))
    statement = FunctionRole().desired(named)["policy.Statement[DecryptEnvVarsWithEnvironmentKey]"]
    assert json.loads(statement)["Resource"] == [own_key]


def test_role_delete_removes_policies_first_and_is_repeatable(ctx: Context, key_arn: str) -> None:  # R-OPS-4
    converge(FunctionRole(), ctx)
    iam = _c("iam")
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    managed = iam.create_policy(PolicyName="extra", PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="envport-dev1-fn-role", PolicyArn=managed)
    assert remove(FunctionRole(), ctx).action is Action.DELETE
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"] == "envport-dev1-fn-role"] == []
    assert remove(FunctionRole(), ctx).action is Action.NOOP


# =============================================================================================
# Function (R-FN-1..7)
# =============================================================================================


@pytest.mark.heavy
def test_function_created_with_every_requirement_value(deps: Context, key_arn: str) -> None:
    # R-FN-1, R-FN-2, R-FN-3, R-FN-4, R-FN-5, R-FN-6, R-FN-7, R-ENV-3, R-ENV-4, R-REL-1
    ctx = deps
    sent = _capture(ctx, "CreateFunction")
    before = ctx.aws.recorder.snapshot()
    outcome = converge(Function(), ctx)
    assert outcome.action is Action.CREATE
    assert ctx.aws.recorder.since(before).by_operation == {
        "lambda.GetFunction": 1, "s3.HeadObject": 1, "s3.PutObject": 1, "lambda.CreateFunction": 1,
        "lambda.GetFunctionConfiguration": 1, "lambda.PutFunctionConcurrency": 1,
    }  # fmt: skip
    artifact = default_artifact()
    bucket = "envport-artifacts-123456789012-us-east-1"
    # The code comes from the artifact bucket, never inline.
    assert sent[0]["Code"] == {"S3Bucket": bucket, "S3Key": f"artifacts/{artifact.sha256}.zip"}
    assert _c("s3").get_object(Bucket=bucket, Key=f"artifacts/{artifact.sha256}.zip")["Body"].read() == (
        artifact.data
    )

    live = _c("lambda").get_function(FunctionName="envport-dev1-api")
    config = live["Configuration"]
    bundle = default_artifact()  # lambda_bundle with its vendored Powertools
    assert config["Runtime"] == "python3.12"
    assert config["Architectures"] == ["arm64"]
    assert config["Handler"] == HANDLER == "lambda_bundle.handler.lambda_handler"
    assert config["Role"] == "arn:aws:iam::123456789012:role/envport-dev1-fn-role"
    assert (config["MemorySize"], config["Timeout"]) == (256, 10)  # dev profile
    assert live["Concurrency"] == {"ReservedConcurrentExecutions": 10}
    assert config["Environment"]["Variables"] == {
        "TABLE_NAME": "envport-dev1-items", "INDEX_NAME": "byCreatedAt", "ENVIRONMENT": "dev1",
        "STAGE": "dev", "LOG_LEVEL": "DEBUG", "CORS_ALLOW_ORIGINS": "*",
    }  # fmt: skip
    assert config["KMSKeyArn"] == key_arn
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert config["DeadLetterConfig"] == {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:envport-dev1-dlq"}
    assert config["LoggingConfig"] == {
        "LogFormat": "JSON", "LogGroup": "/aws/lambda/envport-dev1-api",
        "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "INFO",
    }  # fmt: skip
    assert config["CodeSha256"] == bundle.sha256_b64 == artifact.sha256_b64
    assert get_backend("123456789012", REGION).get_function("envport-dev1-api").code_bytes == bundle.data
    assert live["Tags"] == ctx.spec.tags

    assert outcome.attrs == {
        "arn": config["FunctionArn"], "name": "envport-dev1-api", "version": "$LATEST",
        "code_sha256": bundle.sha256_b64,
    }  # fmt: skip
    assert Function().outputs(ctx, outcome.attrs) == {
        "function_name": "envport-dev1-api", "function_arn": config["FunctionArn"],
    }  # fmt: skip
    assert set(Function.depends_on) == {
        "function_role", "dlq", "function_log_group", "kms_key", "artifact_bucket",
        # vpc mode's network (the engine drops these edges in public mode)
        "subnets", "security_group", "dynamodb_endpoint",
    }  # fmt: skip


@pytest.mark.heavy
def test_function_second_run_is_one_read_and_no_upload(fn: Context) -> None:  # R-OPS-1, R-FN-2
    run = _context(fn)
    before = run.aws.recorder.snapshot()
    outcome = converge(Function(), run)
    calls = run.aws.recorder.since(before)
    assert outcome.action is Action.NOOP and outcome.diffs == []
    assert calls.mutating == 0
    assert calls.by_operation == {"lambda.GetFunction": 1}


def test_function_memory_change_updates_only_memory(fn: Context) -> None:  # R-FN-6
    run = _context(fn, spec=_respec(fn.spec, memory_mb=512))
    sent = _capture(run, "UpdateFunctionConfiguration")
    before = run.aws.recorder.snapshot()
    outcome = converge(Function(), run)
    assert _fields(outcome) == {"MemorySize": (512, 256)}
    calls = run.aws.recorder.since(before).by_operation
    assert calls == {
        "lambda.GetFunction": 1, "lambda.UpdateFunctionConfiguration": 1,
        "lambda.GetFunctionConfiguration": 1,
    }  # fmt: skip
    assert sent == [{"FunctionName": "envport-dev1-api", "MemorySize": 512}]
    assert _c("lambda").get_function_configuration(FunctionName="envport-dev1-api")["MemorySize"] == 512


def test_function_profile_change_touches_concurrency_and_log_level_only(fn: Context) -> None:  # R-FN-6
    run = _context(fn, spec=_respec(fn.spec, reserved_concurrency=20, log_level="WARNING"))
    sent = _capture(run, "UpdateFunctionConfiguration")
    before = run.aws.recorder.snapshot()
    converge(Function(), run)
    calls = run.aws.recorder.since(before).by_operation
    assert calls["lambda.PutFunctionConcurrency"] == 1 and "lambda.UpdateFunctionCode" not in calls
    assert sent[0]["LoggingConfig"]["ApplicationLogLevel"] == "WARN"  # Lambda's name for WARNING
    assert sent[0]["Environment"]["Variables"]["LOG_LEVEL"] == "WARNING"
    assert set(sent[0]) == {"FunctionName", "LoggingConfig", "Environment"}
    live = _c("lambda").get_function(FunctionName="envport-dev1-api")
    assert live["Concurrency"]["ReservedConcurrentExecutions"] == 20
    assert live["Configuration"]["LoggingConfig"]["ApplicationLogLevel"] == "WARN"
    assert converge(Function(), _context(run)).action is Action.NOOP


def test_function_changed_bundle_is_uploaded_once(fn: Context, tmp_path: Path) -> None:  # R-FN-2, R-REL-1
    other = _artifact_from(tmp_path, "v2")
    run = _context(fn, artifact=other)
    sent = _capture(run, "UpdateFunctionCode")
    before = run.aws.recorder.snapshot()
    outcome = converge(Function(), run)
    assert _fields(outcome) == {"CodeSha256": (other.sha256_b64, default_artifact().sha256_b64)}
    calls = run.aws.recorder.since(before).by_operation
    assert calls == {
        "lambda.GetFunction": 1, "s3.HeadObject": 1, "s3.PutObject": 1, "lambda.UpdateFunctionCode": 1,
        "lambda.GetFunctionConfiguration": 1,
    }  # fmt: skip
    assert sent == [
        {"FunctionName": "envport-dev1-api", "S3Bucket": "envport-artifacts-123456789012-us-east-1",
         "S3Key": f"artifacts/{other.sha256}.zip"}
    ]  # fmt: skip
    assert _c("lambda").get_function(FunctionName="envport-dev1-api")["Configuration"]["CodeSha256"] == (
        other.sha256_b64
    )
    assert outcome.attrs["code_sha256"] == other.sha256_b64
    assert converge(Function(), _context(run, artifact=other)).action is Action.NOOP


@pytest.mark.heavy
def test_function_back_to_a_stored_artifact_uploads_nothing(fn: Context, tmp_path: Path) -> None:
    # R-REL-1, R-FN-2: the same bytes are never uploaded twice; going back is one code update.
    converge(Function(), _context(fn, artifact=_artifact_from(tmp_path, "v2")))
    run = _context(fn)  # lambda_bundle again, whose object is already in the bucket
    before = run.aws.recorder.snapshot()
    converge(Function(), run)
    calls = run.aws.recorder.since(before).by_operation
    assert "s3.PutObject" not in calls and calls["lambda.UpdateFunctionCode"] == 1
    assert calls["s3.HeadObject"] == 1


@pytest.mark.heavy
def test_function_runs_the_artifact_its_spec_names(fn: Context, tmp_path: Path) -> None:  # R-REL-1
    """An environment whose release chose an artifact keeps it on the next provision: the spec
    names it by SHA-256 and the engine deploys it from the bucket, without its bytes."""
    other = _artifact_from(tmp_path, "released")
    converge(Function(), _context(fn, artifact=other))
    data = fn.spec.to_dict()
    data.update(artifact_sha256=other.sha256, handler=other.handler)
    run = _context(fn, spec=spec_from_dict(data))
    assert converge(Function(), run).action is Action.NOOP  # provisioning keeps the released code

    data.update(artifact_sha256=_real_artifact().sha256)  # stored by the fixture's create
    run = _context(fn, spec=spec_from_dict(data))
    sent = _capture(run, "UpdateFunctionCode")
    before = run.aws.recorder.snapshot()
    converge(Function(), run)
    calls = run.aws.recorder.since(before).by_operation
    assert "s3.PutObject" not in calls and calls["lambda.UpdateFunctionCode"] == 1
    assert sent[0]["S3Key"] == f"artifacts/{_real_artifact().sha256}.zip"

    data.update(artifact_sha256="0" * 64)  # never uploaded: refused before any code update
    run = _context(fn, spec=spec_from_dict(data))
    before = run.aws.recorder.snapshot()
    with pytest.raises(ArtifactError, match=r"artifacts/0{64}\.zip is missing"):
        converge(Function(), run)
    assert run.aws.recorder.since(before).mutating == 0


@pytest.mark.heavy
def test_function_drift_is_reported_and_repaired_in_one_update(fn: Context) -> None:  # R-OPS-2, R-VER-3
    client = _c("lambda")
    name = "envport-dev1-api"
    client.update_function_configuration(
        FunctionName=name, Timeout=3, TracingConfig={"Mode": "PassThrough"},
        Environment={"Variables": {"TABLE_NAME": "someone-elses"}}, DeadLetterConfig={"TargetArn": ""},
        LoggingConfig={"LogFormat": "Text"},
    )  # fmt: skip
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    client.untag_resource(Resource=fn.function_arn, TagKeys=["CostCentre"])

    outcome, desired, _ = assess(Function(), fn)
    fields = _fields(outcome)
    assert fields["Timeout"] == (10, 3)
    assert fields["TracingConfig.Mode"] == ("Active", "PassThrough")
    assert fields["Environment.Variables"] == (
        desired["Environment.Variables"],
        {"TABLE_NAME": "someone-elses"},
    )
    assert fields["DeadLetterConfig.TargetArn"] == (fn.dlq_arn, MISSING)
    assert fields["LoggingConfig.LogFormat"] == ("JSON", "Text")
    assert fields["LoggingConfig.ApplicationLogLevel"] == ("DEBUG", MISSING)
    assert fields["ReservedConcurrentExecutions"] == (10, 5)
    assert "CostCentre" not in fields["tags"][1]

    run = _context(fn)
    sent = _capture(run, "UpdateFunctionConfiguration")
    before = run.aws.recorder.snapshot()
    converge(Function(), run)
    calls = run.aws.recorder.since(before).by_operation
    assert calls["lambda.UpdateFunctionConfiguration"] == 1 and "lambda.UpdateFunctionCode" not in calls
    assert set(sent[0]) == {
        "FunctionName", "Timeout", "TracingConfig", "Environment", "DeadLetterConfig", "LoggingConfig",
    }  # fmt: skip
    after, _, _ = assess(Function(), run)
    assert after.action is Action.NOOP, after.diffs


@pytest.mark.heavy
def test_function_create_retries_while_iam_role_is_not_assumable(
    deps: Context, session: boto3.Session
) -> None:
    # R-OPS-1, IAM eventual consistency: the first two CreateFunction calls are refused as by AWS.
    attempts = {"n": 0}

    def refuse_twice(request: Any, **_: Any) -> AWSResponse | None:
        attempts["n"] += 1
        if attempts["n"] > 2:
            return None
        body = json.dumps({"Type": "User", "message": ROLE_NOT_READY}).encode()
        headers = {"x-amzn-ErrorType": "InvalidParameterValueException", "Content-Type": "application/json"}
        return AWSResponse(request.url, 400, headers, _Raw(body))

    slept: list[float] = []
    aws = _clients(session, ("before-send.lambda.CreateFunction", refuse_twice, True))
    run = _context(deps, aws=aws)
    run.sleep = slept.append
    outcome = converge(Function(), run)
    assert outcome.action is Action.CREATE
    assert attempts["n"] == 3
    assert aws.recorder.snapshot().by_operation["lambda.CreateFunction"] == 3
    assert slept == [1.0, 2.0]  # bounded exponential backoff through ctx.sleep
    assert len(_c("lambda").list_functions()["Functions"]) == 1


def test_function_create_does_not_retry_other_errors(deps: Context, session: boto3.Session) -> None:
    def refuse(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps({"Type": "User", "message": "Unzipped size must be smaller than 262144000 bytes"})
        headers = {"x-amzn-ErrorType": "InvalidParameterValueException"}
        return AWSResponse(request.url, 400, headers, _Raw(body.encode()))

    aws = _clients(session, ("before-send.lambda.CreateFunction", refuse, True))
    run = _context(deps, aws=aws)
    with pytest.raises(Exception, match="Unzipped size"):
        converge(Function(), run)
    assert aws.recorder.snapshot().by_operation["lambda.CreateFunction"] == 1


def _fake_state(ctx: Context, states: list[dict[str, str]]) -> list[int]:
    """Make the first GetFunctionConfiguration answers report `states` (as a real, slow Lambda)."""
    polls = [0]

    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        if polls[0] < len(states):
            parsed.update(states[polls[0]])
        polls[0] += 1

    ctx.client("lambda").meta.events.register("after-call.lambda.GetFunctionConfiguration", rewrite)
    return polls


def test_function_create_waits_until_active(deps: Context) -> None:  # dependents need it ready
    polls = _fake_state(deps, [{"State": "Pending"}, {"State": "Pending"}])
    converge(Function(), deps)
    assert polls[0] == 3


def test_function_update_waits_until_successful(fn: Context) -> None:
    run = _context(fn, spec=_respec(fn.spec, timeout_s=12))
    polls = _fake_state(run, [{"LastUpdateStatus": "InProgress"}])
    converge(Function(), run)
    assert polls[0] == 2


@pytest.mark.heavy
def test_function_failed_state_is_raised_with_its_reason(deps: Context) -> None:
    _fake_state(deps, [{"State": "Failed", "StateReason": "The KMS key is disabled"}])
    with pytest.raises(RuntimeError, match="The KMS key is disabled"):
        converge(Function(), deps)


@pytest.mark.heavy
def test_function_crash_after_create_is_finished_not_duplicated(
    deps: Context, session: boto3.Session
) -> None:
    """A run that died after CreateFunction (before the concurrency was set) is completed."""  # R-OPS-1

    def crash(**_: Any) -> None:
        raise KeyboardInterrupt("worker killed")

    aws = _clients(session, ("before-call.lambda.PutFunctionConcurrency", crash, True))
    with pytest.raises(KeyboardInterrupt):
        converge(Function(), _context(deps, aws=aws))

    run = _context(deps)
    before = run.aws.recorder.snapshot()
    outcome = converge(Function(), run)
    assert _fields(outcome) == {"ReservedConcurrentExecutions": (10, MISSING)}
    assert run.aws.recorder.since(before).by_operation == {
        "lambda.GetFunction": 1, "lambda.PutFunctionConcurrency": 1,
    }  # fmt: skip
    assert len(_c("lambda").list_functions()["Functions"]) == 1


def test_function_waits_for_the_kms_key(ctx: Context) -> None:  # R-FN-3
    desired = Function().desired(ctx)
    assert desired["KMSKeyArn"] == UNKNOWN
    with pytest.raises(RuntimeError, match="KMSKeyArn"):
        Function().create(ctx, desired)
    assert ctx.aws.recorder.snapshot().mutating == 0


def test_function_delete_leaves_nothing_and_is_repeatable(fn: Context) -> None:  # R-OPS-4
    assert remove(Function(), fn).action is Action.DELETE
    assert _c("lambda").list_functions()["Functions"] == []
    assert remove(Function(), fn).action is Action.NOOP


class _Raw:
    """The body of a fabricated HTTP response, shaped as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body
