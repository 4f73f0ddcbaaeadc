"""DynamoDB's own CloudWatch metrics, put by the local cloud for every request to its DynamoDB.

Metrics and dimensions: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html
Capacity units: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html
(a read unit is one strongly consistent read of up to 4 KB, or two eventually consistent ones; a
write unit one write of up to 1 KB; transactions take two) and item sizes:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import Kit

from localcloud import LocalCloud
from localcloud.dynamodb import metrics as dynamodb_metrics
from localcloud.dynamodb.metrics import Usage, item_size, metric_data, read_units, write_units

BIG = "x" * 5000  # an item of 5007 bytes: 2 read units (1 eventually consistent), 5 write units


def _sum(kit: Kit, name: str, dims: dict[str, str]) -> float:
    now = dt.datetime.now(dt.UTC)
    answer = kit.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in answer["Datapoints"])


def _table(kit: Kit, name: str) -> str:
    table = f"{name}-{kit.suffix}"
    kit.client("dynamodb").create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",  # on-demand: consumed units are still reported
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-kind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    return table


def test_item_sizes_and_units_follow_the_capacity_rules() -> None:
    """Issue 19 item 5: names + values; numbers a byte per two digits + 1; 4 KB reads, 1 KB writes."""
    assert item_size({"pk": {"S": "a"}, "body": {"S": BIG}}) == 5007
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"ok": {"BOOL": True}, "no": {"NULL": True}}) == 2 + 1 + 2 + 1
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"b": {"B": "aGVsbG8="}}) == 1 + 5
    assert (read_units(5007, True), read_units(5007, False), read_units(0, False)) == (2.0, 1.0, 0.5)
    assert (write_units(5007), write_units(10)) == (5.0, 1.0)


def test_reads_and_writes_consume_capacity_per_table_and_index(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 19 item 5: ConsumedRead/WriteCapacityUnits by TableName (and GlobalSecondaryIndexName)."""
    table = _table(kit, "capacity")
    ddb = kit.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "body": {"S": BIG}})  # 5 (5007 B + no kind)
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}, "kind": {"S": "k"}})  # 1
    ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})  # 1 (eventually consistent)
    ddb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)  # 2
    ddb.get_item(TableName=table, Key={"pk": {"S": "missing"}}, ConsistentRead=True)  # 1: still a read
    # A Scan is charged for every item it evaluates (5007 + 13 bytes: 2 units consistent), whatever
    # the filter keeps or the projection returns.
    scanned = ddb.scan(
        TableName=table,
        ConsistentRead=True,
        FilterExpression="pk = :b",
        ExpressionAttributeValues={":b": {"S": "b"}},
        ProjectionExpression="pk",
    )
    assert [item["pk"]["S"] for item in scanned["Items"]] == ["b"]
    assert scanned["Items"][0] == {"pk": {"S": "b"}}  # the filter and projection still apply
    ddb.query(  # 0.5 on the index (eventually consistent, one small item)
        TableName=table,
        IndexName="by-kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": {"S": "k"}},
    )
    ddb.update_item(  # the larger of before (5007 B) and after: 5
        TableName=table,
        Key={"pk": {"S": "a"}},
        UpdateExpression="SET body = :small",
        ExpressionAttributeValues={":small": {"S": "s"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "b"}})  # 1
    ddb.transact_write_items(  # 2 x 1
        TransactItems=[{"Put": {"TableName": table, "Item": {"pk": {"S": "t"}}}}]
    )
    ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "t"}}]}})  # 0.5 + 0.5

    assert _sum(kit, "ConsumedWriteCapacityUnits", {"TableName": table}) == 5 + 1 + 5 + 1 + 2
    assert _sum(kit, "ConsumedReadCapacityUnits", {"TableName": table}) == 1 + 2 + 1 + 2 + 0.5 + 0.5
    index = {"TableName": table, "GlobalSecondaryIndexName": "by-kind"}
    assert _sum(kit, "ConsumedReadCapacityUnits", index) == 0.5
    latency = {"TableName": table, "Operation": "GetItem"}
    assert _sum(kit, "SuccessfulRequestLatency", latency) > 0


def test_a_failed_condition_consumes_a_write_and_counts_as_conditional_check_failed(
    cloud: LocalCloud, kit: Kit
) -> None:
    """Issue 19 item 5: ConditionalCheckFailedRequests, and the write unit it still consumed."""
    table = _table(kit, "conditional")
    ddb = kit.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    with pytest.raises(ClientError):
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)")
    assert _sum(kit, "ConditionalCheckFailedRequests", {"TableName": table}) == 1
    assert _sum(kit, "ConsumedWriteCapacityUnits", {"TableName": table}) == 2


def test_user_errors_have_no_dimension(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 19 item 5: a 400 (here a table that does not exist) is a UserErrors datum, region-wide."""
    before = _sum(kit, "UserErrors", {})
    with pytest.raises(ClientError):
        kit.client("dynamodb").get_item(TableName=f"absent-{kit.suffix}", Key={"pk": {"S": "a"}})
    assert _sum(kit, "UserErrors", {}) == before + 1


def _names(data: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    return {d["MetricName"]: d["Dimensions"] for d in data}


def test_throttles_and_system_errors_by_table_and_operation() -> None:
    """Issue 19 item 5: ThrottledRequests and SystemErrors, dimensions TableName and Operation."""
    by_operation = [{"Name": "TableName", "Value": "t"}, {"Name": "Operation", "Value": "Query"}]
    throttled = metric_data("Query", ["t"], Usage(), 400, "ProvisionedThroughputExceededException", 3.0, None)
    assert _names(throttled) == {"ThrottledRequests": by_operation}
    failed = metric_data("Query", ["t"], Usage(), 500, "InternalServerError", 3.0, None)
    assert _names(failed) == {"SystemErrors": by_operation}
    assert {"ThrottlingException", "RequestLimitExceeded"} <= dynamodb_metrics.THROTTLE_ERRORS
