"""Table, KMS key and log groups: converge, read back, no-op, tamper, repair, delete."""

from __future__ import annotations

import json

import boto3
import pytest

from provisioning.reconcile import Action, assess, converge, remove
from provisioning.resources.base import MISSING, Context
from provisioning.resources.kms_key import KmsKey
from provisioning.resources.log_group import access_log_group, function_log_group
from provisioning.resources.table import Table
from provisioning.spec import build_spec


def _ddb():
    return boto3.client("dynamodb", region_name="us-east-1")


def _with(ctx: Context, **overrides) -> Context:
    spec = build_spec(
        suffix=ctx.spec.suffix,
        stage=ctx.spec.stage,
        owner=ctx.spec.owner,
        cost_centre=ctx.spec.cost_centre,
        overrides=overrides,
    )
    return Context(spec=spec, aws=ctx.aws, attrs=ctx.attrs, sleep=ctx.sleep)


def test_kms_key_is_created_with_rotation_alias_and_tags(ctx: Context) -> None:
    # R-DB-4, R-FN-3, R-ENV-3
    outcome = converge(KmsKey(), ctx)
    assert outcome.action is Action.CREATE
    kms = boto3.client("kms", region_name="us-east-1")
    meta = kms.describe_key(KeyId="alias/envport-dev1")["KeyMetadata"]
    assert meta["Arn"] == outcome.attrs["arn"]
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]}
    assert tags["Environment"] == "dev1" and tags["Project"] == "envport" and tags["ManagedBy"] == "envport"
    assert tags["Owner"] == "team-a" and tags["CostCentre"] == "cc-42"
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    cloudwatch = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchAlarmsPublishToEncryptedTopic")
    assert cloudwatch["Principal"] == {
        "Service": "cloudwatch.amazonaws.com"
    }  # R-OBS-1: alarms reach the topic
    before = ctx.aws.recorder.snapshot()
    assert converge(KmsKey(), ctx).action is Action.NOOP
    assert ctx.aws.recorder.since(before).mutating == 0


def test_kms_key_orphaned_before_its_alias_is_adopted_not_duplicated(ctx: Context) -> None:
    # R-OPS-1: a run that died between CreateKey and CreateAlias
    kms = boto3.client("kms", region_name="us-east-1")
    orphan = kms.create_key(
        Tags=[
            {"TagKey": k, "TagValue": v}
            for k, v in {**ctx.tag_dict, "envport:purpose": "environment-key"}.items()
        ]
    )
    outcome = converge(KmsKey(), ctx)
    assert outcome.action is Action.UPDATE
    assert (
        kms.describe_key(KeyId="alias/envport-dev1")["KeyMetadata"]["KeyId"] == orphan["KeyMetadata"]["KeyId"]
    )
    assert len(kms.list_keys()["Keys"]) == 1


def test_table_values_after_create(ctx: Context) -> None:
    # R-DB-1, R-DB-2, R-DB-3, R-DB-4, R-ENV-3
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    ddb = _ddb()
    table = ddb.describe_table(TableName="envport-dev1-items")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert {"AttributeName": "id", "AttributeType": "S"} in table["AttributeDefinitions"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byCreatedAt"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["listKey", "createdAt"]
    assert index["Projection"]["ProjectionType"] == "ALL"
    assert index.get("ProvisionedThroughput", {}).get("ReadCapacityUnits", 0) == 0  # on-demand: none
    assert table["SSEDescription"]["SSEType"] == "KMS"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == ctx.attrs["kms_key"]["arn"]
    assert table["DeletionProtectionEnabled"] is False
    pitr = ddb.describe_continuous_backups(TableName="envport-dev1-items")["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"  # dev profile
    ttl = ddb.describe_time_to_live(TableName="envport-dev1-items")["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expiresAt", "ENABLED")
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
    assert tags["Environment"] == "dev1" and tags["CostCentre"] == "cc-42"


def test_prod_table_has_pitr_and_deletion_protection() -> None:
    # R-DB-4, R-ENV-2
    spec = build_spec(suffix="prod1", stage="prod")
    assert spec.settings.pitr and spec.settings.deletion_protection
    desired = Table().desired(Context(spec=spec, aws=None))  # type: ignore[arg-type]
    assert desired["PointInTimeRecovery"] == "ENABLED"
    assert desired["DeletionProtectionEnabled"] is True


def test_table_noop_then_pitr_change_touches_only_pitr(ctx: Context) -> None:
    # R-OPS-1, R-DB-4
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    before = ctx.aws.recorder.snapshot()
    assert converge(Table(), ctx).action is Action.NOOP
    assert ctx.aws.recorder.since(before).mutating == 0

    changed = _with(ctx, pitr=True)
    before = ctx.aws.recorder.snapshot()
    outcome = converge(Table(), changed)
    assert outcome.action is Action.UPDATE
    assert [d.field for d in outcome.diffs] == ["PointInTimeRecovery"]
    calls = ctx.aws.recorder.since(before)
    mutating = {
        op: n for op, n in calls.by_operation.items() if not op.split(".")[1].startswith(("Describe", "List"))
    }
    assert mutating == {"dynamodb.UpdateContinuousBackups": 1}


@pytest.mark.heavy
def test_table_drift_is_reported_and_repaired(ctx: Context) -> None:
    # R-OPS-2
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    ddb = _ddb()
    ddb.update_time_to_live(
        TableName="envport-dev1-items",
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expiresAt"},
    )
    ddb.update_table(TableName="envport-dev1-items", DeletionProtectionEnabled=True)
    outcome, _, _ = assess(Table(), ctx)
    found = {d.field: (d.wanted, d.found) for d in outcome.diffs}
    assert found["DeletionProtectionEnabled"] == (False, True)
    assert found["TimeToLive"][0] == "expiresAt:ENABLED"
    converge(Table(), ctx)
    assert assess(Table(), ctx)[0].action is Action.NOOP


def test_provisioned_table_gets_capacity_and_target_tracking(ctx: Context) -> None:
    # R-DB-2
    changed = _with(
        ctx,
        billing_mode="PROVISIONED",
        read_capacity=5,
        write_capacity=6,
        max_read_capacity=50,
        max_write_capacity=60,
    )
    converge(KmsKey(), changed)
    converge(Table(), changed)
    table = _ddb().describe_table(TableName="envport-dev1-items")["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    scaling = boto3.client("application-autoscaling", region_name="us-east-1")
    targets = scaling.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]
    dims = {(t["ResourceId"], t["ScalableDimension"]): (t["MinCapacity"], t["MaxCapacity"]) for t in targets}
    assert dims[("table/envport-dev1-items", "dynamodb:table:ReadCapacityUnits")] == (5, 50)
    assert dims[("table/envport-dev1-items", "dynamodb:table:WriteCapacityUnits")] == (6, 60)
    assert dims[("table/envport-dev1-items/index/byCreatedAt", "dynamodb:index:ReadCapacityUnits")] == (5, 50)
    policies = scaling.describe_scaling_policies(ServiceNamespace="dynamodb")["ScalingPolicies"]
    assert len(policies) == 4
    assert all(p["PolicyType"] == "TargetTrackingScaling" for p in policies)
    before = changed.aws.recorder.snapshot()
    assert converge(Table(), changed).action is Action.NOOP
    assert changed.aws.recorder.since(before).mutating == 0


def test_provisioned_below_five_units_is_refused() -> None:
    # R-DB-2
    with pytest.raises(ValueError, match="read_capacity"):
        build_spec(suffix="dev1", stage="dev", overrides={"billing_mode": "PROVISIONED", "read_capacity": 4})


def test_table_delete_backs_up_items_unless_declined(ctx: Context) -> None:
    # R-OPS-4
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    _ddb().put_item(TableName="envport-dev1-items", Item={"id": {"S": "1"}})
    ctx.options["backup"] = True
    assert remove(Table(), ctx).action is Action.DELETE
    backups = _ddb().list_backups(TableName="envport-dev1-items")["BackupSummaries"]
    assert len(backups) == 1 and backups[0]["BackupName"].startswith("envport-dev1-teardown-")
    assert ctx.notes["backup_arn"] == backups[0]["BackupArn"]
    assert remove(Table(), ctx).action is Action.NOOP


@pytest.mark.heavy
def test_log_groups_have_retention_and_tags(ctx: Context) -> None:
    # R-FN-7, R-API-4, R-ENV-2
    for make in (function_log_group, access_log_group):
        assert converge(make(), ctx).action is Action.CREATE
    logs = boto3.client("logs", region_name="us-east-1")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]}
    assert groups["/aws/lambda/envport-dev1-api"]["retentionInDays"] == 7
    assert groups["/aws/apigateway/envport-dev1-access"]["retentionInDays"] == 7
    logs.put_retention_policy(logGroupName="/aws/lambda/envport-dev1-api", retentionInDays=30)
    outcome, _, _ = assess(function_log_group(), ctx)
    assert [(d.field, d.wanted, d.found) for d in outcome.diffs] == [("retentionInDays", 7, 30)]
    changed = _with(ctx, log_retention_days=14)
    converge(function_log_group(), changed)
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/envport-dev1-api")["logGroups"][0]
    assert group["retentionInDays"] == 14
    assert remove(function_log_group(), ctx).action is Action.DELETE
    assert assess(function_log_group(), ctx)[0].diffs[0].found == MISSING
