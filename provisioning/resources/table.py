"""The environment's DynamoDB table (R-DB-1 to R-DB-4), with auto scaling when PROVISIONED.

Live capacity of an auto-scaled table moves on its own, so it is never compared: the scaling
targets (min, max, target utilisation) are. Each `update_table` waits for ACTIVE before the next
one, because DynamoDB refuses a second update while the first is in progress.
"""

from __future__ import annotations

import time
from typing import Any

from ..aws import error_code, tag_map, tolerating_absent, unless_absent
from ..names import INDEX_NAME, INDEX_PARTITION, INDEX_SORT, TTL_ATTRIBUTE
from .base import UNKNOWN, Context, Observed, Resource, sync_tags, wait_for

TARGET_UTILISATION = 70.0
_DIMENSIONS = {
    ("table", "read"): "dynamodb:table:ReadCapacityUnits",
    ("table", "write"): "dynamodb:table:WriteCapacityUnits",
    ("index", "read"): "dynamodb:index:ReadCapacityUnits",
    ("index", "write"): "dynamodb:index:WriteCapacityUnits",
}
_METRICS = {"read": "DynamoDBReadCapacityUtilization", "write": "DynamoDBWriteCapacityUtilization"}


def _throughput(ctx: Context) -> dict[str, int]:
    """The starting capacity of a PROVISIONED table and its index; auto scaling moves it later."""
    s = ctx.spec.settings
    return {"ReadCapacityUnits": s.read_capacity, "WriteCapacityUnits": s.write_capacity}


def _index_definition(ctx: Context) -> dict[str, Any]:
    """The listing index (R-DB-3), the same on create_table and when added to an older table;
    an on-demand table gives it no capacity settings."""
    index: dict[str, Any] = {
        "IndexName": INDEX_NAME,
        "KeySchema": [
            {"AttributeName": INDEX_PARTITION, "KeyType": "HASH"},
            {"AttributeName": INDEX_SORT, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    if ctx.spec.settings.billing_mode == "PROVISIONED":
        index["ProvisionedThroughput"] = _throughput(ctx)
    return index


class Table(Resource):
    key = "table"
    kind = "dynamodb-table"
    depends_on = ("kms_key",)

    # --- desired -------------------------------------------------------------------------
    def name(self, ctx: Context) -> str:
        return ctx.names.table

    def desired(self, ctx: Context) -> dict[str, Any]:
        s = ctx.spec.settings
        state: dict[str, Any] = {
            "KeySchema": "id:HASH",
            "BillingMode": s.billing_mode,
            f"index:{INDEX_NAME}": f"{INDEX_PARTITION}:HASH,{INDEX_SORT}:RANGE;ALL",
            "SSE": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": ctx.kms_key_arn},
            "DeletionProtectionEnabled": s.deletion_protection,
            "PointInTimeRecovery": "ENABLED" if s.pitr else "DISABLED",
            "TimeToLive": f"{TTL_ATTRIBUTE}:ENABLED",
            "tags": ctx.tag_dict,
        }
        if s.billing_mode == "PROVISIONED":
            for scope, direction in _DIMENSIONS:
                low = s.read_capacity if direction == "read" else s.write_capacity
                high = s.max_read_capacity if direction == "read" else s.max_write_capacity
                state[f"autoscaling.{scope}.{direction}"] = {
                    "min": low,
                    "max": high,
                    "target": TARGET_UTILISATION,
                }
        if UNKNOWN in str(state["SSE"]):
            state["SSE"] = UNKNOWN
        return state

    # --- observe -------------------------------------------------------------------------
    def observe(self, ctx: Context) -> Observed | None:
        ddb = ctx.client("dynamodb")
        table = unless_absent(
            lambda: ddb.describe_table(TableName=ctx.names.table)["Table"], "ResourceNotFoundException"
        )
        if table is None:
            return None
        if table.get("TableStatus") == "DELETING":
            return None
        arn = table["TableArn"]
        sse = table.get("SSEDescription") or {}
        pitr = ddb.describe_continuous_backups(TableName=ctx.names.table)["ContinuousBackupsDescription"]
        ttl = ddb.describe_time_to_live(TableName=ctx.names.table)["TimeToLiveDescription"]
        tags = tag_map(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", []))
        state: dict[str, Any] = {
            "KeySchema": ",".join(f"{k['AttributeName']}:{k['KeyType']}" for k in table["KeySchema"]),
            "BillingMode": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
            "SSE": {
                "Status": sse.get("Status", "DISABLED"),
                "SSEType": sse.get("SSEType", "(none)"),
                "KMSMasterKeyArn": sse.get("KMSMasterKeyArn", "(none)"),
            },
            "DeletionProtectionEnabled": bool(table.get("DeletionProtectionEnabled", False)),
            "PointInTimeRecovery": (pitr.get("PointInTimeRecoveryDescription") or {}).get(
                "PointInTimeRecoveryStatus", "DISABLED"
            ),
            "TimeToLive": f"{ttl.get('AttributeName', '(none)')}:{ttl.get('TimeToLiveStatus', 'DISABLED')}",
            "tags": tags,
        }
        for index in table.get("GlobalSecondaryIndexes", []):
            keys = ",".join(f"{k['AttributeName']}:{k['KeyType']}" for k in index["KeySchema"])
            state[f"index:{index['IndexName']}"] = f"{keys};{index['Projection']['ProjectionType']}"
        state.update(self._observe_scaling(ctx))
        return Observed(state, {"name": ctx.names.table, "arn": arn, "status": table.get("TableStatus")})

    def _resource_ids(self, ctx: Context) -> dict[str, str]:
        return {"table": f"table/{ctx.names.table}", "index": f"table/{ctx.names.table}/index/{INDEX_NAME}"}

    def _observe_scaling(self, ctx: Context) -> dict[str, Any]:
        scaling = ctx.client("application-autoscaling")
        ids = self._resource_ids(ctx)
        targets = scaling.describe_scalable_targets(
            ServiceNamespace="dynamodb", ResourceIds=list(ids.values())
        ).get("ScalableTargets", [])
        if not targets:
            return {}
        policies = [
            policy
            for resource_id in ids.values()
            for policy in scaling.describe_scaling_policies(
                ServiceNamespace="dynamodb", ResourceId=resource_id
            ).get("ScalingPolicies", [])
        ]
        found: dict[str, Any] = {}
        for (scope, direction), dimension in _DIMENSIONS.items():
            target = next(
                (t for t in targets if t["ResourceId"] == ids[scope] and t["ScalableDimension"] == dimension),
                None,
            )
            if target is None:
                continue
            policy = next(
                (
                    p
                    for p in policies
                    if p["ResourceId"] == ids[scope] and p["ScalableDimension"] == dimension
                ),
                None,
            )
            value = (policy or {}).get("TargetTrackingScalingPolicyConfiguration", {}).get("TargetValue")
            found[f"autoscaling.{scope}.{direction}"] = {
                "min": target["MinCapacity"],
                "max": target["MaxCapacity"],
                "target": value if value is not None else "(no policy)",
            }
        return found

    # --- create --------------------------------------------------------------------------
    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        ddb = ctx.client("dynamodb")
        s = ctx.spec.settings
        kwargs: dict[str, Any] = {
            "TableName": ctx.names.table,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": INDEX_PARTITION, "AttributeType": "S"},
                {"AttributeName": INDEX_SORT, "AttributeType": "S"},
            ],
            "BillingMode": s.billing_mode,
            "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": ctx.kms_key_arn},
            "DeletionProtectionEnabled": s.deletion_protection,
            "Tags": ctx.tag_list(),
        }
        if s.billing_mode == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _throughput(ctx)
        kwargs["GlobalSecondaryIndexes"] = [_index_definition(ctx)]
        try:
            ddb.create_table(**kwargs)
        except Exception as exc:
            # An earlier run created it and died before it was ACTIVE; carry on from there.
            if error_code(exc) != "ResourceInUseException":
                raise
        self._wait_active(ctx)
        observed = self.observe(ctx)
        assert observed is not None
        self._converge_extras(ctx, desired, observed.state)
        return observed.attrs

    def _wait_active(self, ctx: Context) -> None:
        ddb = ctx.client("dynamodb")

        def active() -> bool:
            table = ddb.describe_table(TableName=ctx.names.table)["Table"]
            indexes = table.get("GlobalSecondaryIndexes", [])
            return table["TableStatus"] == "ACTIVE" and all(i.get("IndexStatus") == "ACTIVE" for i in indexes)

        wait_for(ctx, active, f"table {ctx.names.table} to be ACTIVE", timeout=600, interval=2)

    def _converge_extras(self, ctx: Context, desired: dict[str, Any], found: dict[str, Any]) -> None:
        """The settings DynamoDB keeps outside create_table: PITR, TTL, auto scaling."""
        ddb = ctx.client("dynamodb")
        name = ctx.names.table
        if found.get("PointInTimeRecovery") != desired["PointInTimeRecovery"]:
            ddb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={
                    "PointInTimeRecoveryEnabled": desired["PointInTimeRecovery"] == "ENABLED"
                },
            )
        if found.get("TimeToLive") != desired["TimeToLive"]:
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
            )
        self._converge_scaling(ctx, desired, found)

    def _converge_scaling(self, ctx: Context, desired: dict[str, Any], found: dict[str, Any]) -> None:
        scaling = ctx.client("application-autoscaling")
        ids = self._resource_ids(ctx)
        for (scope, direction), dimension in _DIMENSIONS.items():
            name = f"autoscaling.{scope}.{direction}"
            want, have = desired.get(name), found.get(name)
            if want == have:
                continue
            if want is None:
                scaling.deregister_scalable_target(
                    ServiceNamespace="dynamodb", ResourceId=ids[scope], ScalableDimension=dimension
                )
                continue
            scaling.register_scalable_target(
                ServiceNamespace="dynamodb",
                ResourceId=ids[scope],
                ScalableDimension=dimension,
                MinCapacity=want["min"],
                MaxCapacity=want["max"],
            )
            scaling.put_scaling_policy(
                PolicyName=f"{ctx.names.table}-{scope}-{direction}-target",
                ServiceNamespace="dynamodb",
                ResourceId=ids[scope],
                ScalableDimension=dimension,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration={
                    "TargetValue": want["target"],
                    "PredefinedMetricSpecification": {"PredefinedMetricType": _METRICS[direction]},
                },
            )

    # --- update --------------------------------------------------------------------------
    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list
    ) -> dict[str, Any]:
        ddb = ctx.client("dynamodb")
        name = ctx.names.table
        fields = {d.field for d in diffs}
        s = ctx.spec.settings
        if "KeySchema" in fields:
            raise ValueError(
                f"table {name} has key schema {observed.state['KeySchema']}, wanted {desired['KeySchema']}: "
                "a key schema cannot change in place; back up, tear down and provision again"
            )
        if "BillingMode" in fields:
            kwargs: dict[str, Any] = {"TableName": name, "BillingMode": s.billing_mode}
            if s.billing_mode == "PROVISIONED":
                throughput = _throughput(ctx)
                kwargs["ProvisionedThroughput"] = throughput
                kwargs["GlobalSecondaryIndexUpdates"] = [
                    {"Update": {"IndexName": INDEX_NAME, "ProvisionedThroughput": throughput}}
                ]
            ddb.update_table(**kwargs)
            self._wait_active(ctx)
        index_field = f"index:{INDEX_NAME}"
        if index_field in fields and observed.state.get(index_field) is None:
            self._create_index(ctx)
        if "SSE" in fields:
            ddb.update_table(
                TableName=name,
                SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": ctx.kms_key_arn},
            )
            self._wait_active(ctx)
        if "DeletionProtectionEnabled" in fields:
            ddb.update_table(TableName=name, DeletionProtectionEnabled=s.deletion_protection)
            self._wait_active(ctx)
        if "tags" in fields:
            arn = observed.attrs["arn"]
            sync_tags(observed, desired, ddb.tag_resource, ddb.untag_resource, ResourceArn=arn)
        self._converge_extras(ctx, desired, observed.state)
        return observed.attrs

    def _create_index(self, ctx: Context) -> None:
        ctx.client("dynamodb").update_table(
            TableName=ctx.names.table,
            AttributeDefinitions=[
                {"AttributeName": INDEX_PARTITION, "AttributeType": "S"},
                {"AttributeName": INDEX_SORT, "AttributeType": "S"},
            ],
            GlobalSecondaryIndexUpdates=[{"Create": _index_definition(ctx)}],
        )
        self._wait_active(ctx)

    # --- delete --------------------------------------------------------------------------
    def delete(self, ctx: Context, observed: Observed) -> None:
        """Back up a table that holds items first (R-OPS-4), unless the operator declined."""
        ddb = ctx.client("dynamodb")
        name = ctx.names.table
        if ctx.options.get("backup", True) and self._holds_items(ctx):
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
            backup = ddb.create_backup(TableName=name, BackupName=f"{ctx.names.backup_prefix}-{stamp}")
            arn = backup["BackupDetails"]["BackupArn"]
            wait_for(
                ctx,
                lambda: (
                    ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
                    == "AVAILABLE"
                ),
                f"backup of {name}",
                timeout=900,
                interval=2,
            )
            ctx.notes["backup_arn"] = arn
        for key in [k for k in observed.state if k.startswith("autoscaling.")]:
            scope, direction = key.split(".")[1:]
            ctx.client("application-autoscaling").deregister_scalable_target(
                ServiceNamespace="dynamodb",
                ResourceId=self._resource_ids(ctx)[scope],
                ScalableDimension=_DIMENSIONS[(scope, direction)],
            )
        if observed.state.get("DeletionProtectionEnabled"):
            # The engine refuses a protected spec before this; a stale live flag is lifted here.
            ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
            self._wait_active(ctx)
        with tolerating_absent("ResourceNotFoundException"):
            ddb.delete_table(TableName=name)

    def _holds_items(self, ctx: Context) -> bool:
        page = ctx.client("dynamodb").scan(TableName=ctx.names.table, Limit=1, Select="COUNT")
        return page.get("Count", 0) > 0 or "LastEvaluatedKey" in page

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"table_name": ctx.names.table, "table_arn": attrs.get("arn")}
