"""The local cloud restores DynamoDB tables as AWS does (fixes in localcloud/dynamodb/fixes.py).

Pages followed:
- https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableToPointInTime.html
- https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_RestoreTableFromBackup.html
- https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeContinuousBackups.html
- https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html
- https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pointintimerecovery_restores.html

Each test runs in decorator mode, against a moto server over HTTP (both with the fixes) and against
the local cloud itself.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import fidelity
from localcloud.dynamodb.fixes import TableHistory

REGION = "us-east-1"
NO_RETRY = Config(retries={"total_max_attempts": 1})
RESTORE_S = 0.3
SLOW_RESTORE_S = 2.0  # where a test reads the table while it is CREATING
LAG_S = 0.2


@pytest.fixture(params=["decorator", "server", "localcloud"])
def ddb(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LOCALCLOUD_DYNAMODB_RESTORE_S", str(RESTORE_S))
    monkeypatch.setenv("LOCALCLOUD_PITR_LATEST_LAG_S", str(LAG_S))
    fidelity.apply()
    if request.param != "decorator":
        fixture = "moto_server" if request.param == "server" else "cloud"
        found = request.getfixturevalue(fixture)
        url = found if isinstance(found, str) else found.endpoint_url
        yield boto3.client("dynamodb", region_name=REGION, endpoint_url=url, config=NO_RETRY)
    else:
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION, config=NO_RETRY)


_COUNTER = iter(range(1_000_000))


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_COUNTER)}-{time.time_ns() % 10**9}"


def _table(ddb: Any, *, pitr: bool = True, **extra: Any) -> str:
    name = _name("src")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "listKey", "AttributeType": "S"},
            {"AttributeName": "createdAt", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byCreatedAt",
                "KeySchema": [
                    {"AttributeName": "listKey", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        **extra,
    )
    if pitr:
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return name


def _item(key: str, **values: str) -> dict[str, Any]:
    return {"id": {"S": key}, **{k: {"S": v} for k, v in values.items()}}


def _items(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {item["id"]["S"]: item for item in ddb.scan(TableName=table)["Items"]}


def _wait_active(ddb: Any, table: str, timeout: float = 10.0) -> float:
    """Seconds until the table is ACTIVE."""
    started = time.monotonic()
    while ddb.describe_table(TableName=table)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() - started < timeout, f"{table} never became ACTIVE"
        time.sleep(0.05)
    return time.monotonic() - started


def _at(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _window(ddb: Any, table: str) -> tuple[float, float]:
    pitr = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]
    return pitr["EarliestRestorableDateTime"].timestamp(), pitr["LatestRestorableDateTime"].timestamp()


def _past_lag() -> None:
    time.sleep(LAG_S + 0.1)


# R-REC-1
@pytest.mark.heavy
def test_point_in_time_restore_returns_the_items_as_they_were_at_that_time(ddb: Any) -> None:
    """Issue 20 item 5: RestoreTableToPointInTime returns the items as they were at RestoreDateTime
    (API_RestoreTableToPointInTime.html: "restores your table data to the state based on the
    selected date and time"), whatever write changed them: PutItem, UpdateItem, DeleteItem,
    BatchWriteItem, TransactWriteItems."""
    table = _table(ddb)
    ddb.put_item(TableName=table, Item=_item("kept", v="1", listKey="all", createdAt="2026-12-07"))
    ddb.put_item(TableName=table, Item=_item("corrupted", v="good"))
    ddb.put_item(TableName=table, Item=_item("deleted", v="1"))
    ddb.batch_write_item(
        RequestItems={table: [{"PutRequest": {"Item": _item(f"b{i}", v="1")}} for i in range(3)]}
    )
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": _item("tx", v="1")}}])
    time.sleep(0.05)
    noted = time.time()
    time.sleep(0.05)
    ddb.update_item(
        TableName=table,
        Key={"id": {"S": "corrupted"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "bad"}},
    )
    ddb.delete_item(TableName=table, Key={"id": {"S": "deleted"}})
    ddb.batch_write_item(
        RequestItems={
            table: [
                {"DeleteRequest": {"Key": {"id": {"S": "b0"}}}},
                {"PutRequest": {"Item": _item("b1", v="overwritten")}},
            ]
        }
    )
    ddb.transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": table, "Key": {"id": {"S": "tx"}}}},
            {"Put": {"TableName": table, "Item": _item("new", v="1")}},
        ]
    )
    _past_lag()
    target = _name("restored")
    ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=target, RestoreDateTime=_at(noted)
    )
    _wait_active(ddb, target)
    restored = _items(ddb, target)
    assert sorted(restored) == ["b0", "b1", "b2", "corrupted", "deleted", "kept", "tx"]
    assert restored["corrupted"]["v"] == {"S": "good"} and restored["b1"]["v"] == {"S": "1"}
    # The restored items are items like any other: in the index, and writable.
    listed = ddb.query(
        TableName=target,
        IndexName="byCreatedAt",
        KeyConditionExpression="listKey = :k",
        ExpressionAttributeValues={":k": {"S": "all"}},
    )["Items"]
    assert [i["id"]["S"] for i in listed] == ["kept"]
    ddb.update_item(
        TableName=target,
        Key={"id": {"S": "kept"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "2"}},
    )
    assert ddb.get_item(TableName=target, Key={"id": {"S": "kept"}})["Item"]["v"] == {"S": "2"}
    # The source keeps its present; a second restore with UseLatestRestorableTime returns it.
    latest = _name("latest")
    ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=latest, UseLatestRestorableTime=True
    )
    _wait_active(ddb, latest)
    assert _items(ddb, latest) == _items(ddb, table)
    assert sorted(_items(ddb, latest)) == ["b1", "b2", "corrupted", "kept", "new"]


@pytest.mark.heavy
def test_items_written_before_recovery_was_enabled_are_the_base_of_the_history(ddb: Any) -> None:
    """Issue 20 item 5: items already in the table when recovery is enabled are restorable from
    that moment (PointInTimeRecovery_Howitworks.html: restore to any time from
    EarliestRestorableDateTime)."""
    table = _table(ddb, pitr=False)
    ddb.put_item(TableName=table, Item=_item("old", v="1"))
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    earliest, _ = _window(ddb, table)
    ddb.delete_item(TableName=table, Key={"id": {"S": "old"}})
    _past_lag()
    target = _name("restored")
    ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=target, RestoreDateTime=_at(earliest)
    )
    _wait_active(ddb, target)
    assert sorted(_items(ddb, target)) == ["old"]


def test_times_outside_the_restorable_window_are_refused(ddb: Any) -> None:
    """Issue 20 item 5: a RestoreDateTime before EarliestRestorableDateTime (when recovery was
    enabled) or after LatestRestorableDateTime answers InvalidRestoreTimeException
    (API_RestoreTableToPointInTime.html, Errors); a table without recovery answers
    PointInTimeRecoveryUnavailableException; disabling and enabling recovery resets the start
    (pointintimerecovery_restores.html: "you reset the start time")."""
    table = _table(ddb)
    earliest, _latest = _window(ddb, table)
    for when in (earliest - 1, time.time() + 60, dt.datetime(2020, 1, 1, tzinfo=dt.UTC)):
        with pytest.raises(ClientError) as exc:
            ddb.restore_table_to_point_in_time(
                SourceTableName=table,
                TargetTableName=_name("refused"),
                RestoreDateTime=when if isinstance(when, dt.datetime) else _at(when),
            )
        assert _code(exc) == "InvalidRestoreTimeException"
        assert (
            "EarliestRestorableDateTime and LatestRestorableDateTime"
            in exc.value.response["Error"]["Message"]
        )
    # The window's own ends are inside it.
    ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=_name("ok"), RestoreDateTime=_at(earliest)
    )

    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    with pytest.raises(ClientError) as exc:
        ddb.restore_table_to_point_in_time(
            SourceTableName=table, TargetTableName=_name("off"), UseLatestRestorableTime=True
        )
    assert _code(exc) == "PointInTimeRecoveryUnavailableException"
    time.sleep(0.05)
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    assert _window(ddb, table)[0] > earliest
    with pytest.raises(ClientError) as exc:
        ddb.restore_table_to_point_in_time(
            SourceTableName=table, TargetTableName=_name("reset"), RestoreDateTime=_at(earliest)
        )
    assert _code(exc) == "InvalidRestoreTimeException"
    # Missing source, existing target, no time at all.
    with pytest.raises(ClientError) as exc:
        ddb.restore_table_to_point_in_time(
            SourceTableName="no-such-table", TargetTableName=_name("x"), UseLatestRestorableTime=True
        )
    assert _code(exc) == "SourceTableNotFoundException"
    with pytest.raises(ClientError) as exc:
        ddb.restore_table_to_point_in_time(
            SourceTableName=table, TargetTableName=table, UseLatestRestorableTime=True
        )
    assert _code(exc) == "TableAlreadyExistsException"
    with pytest.raises(ClientError) as exc:
        ddb.restore_table_to_point_in_time(SourceTableName=table, TargetTableName=_name("x"))
    assert _code(exc) == "ValidationException"


def test_describe_continuous_backups_reports_a_moving_consistent_window(ddb: Any) -> None:
    """Issue 20 item 5: DescribeContinuousBackups reports EarliestRestorableDateTime (when recovery
    was enabled) and LatestRestorableDateTime (a lag behind now: about five minutes on AWS,
    LOCALCLOUD_PITR_LATEST_LAG_S locally), earliest <= latest (API_PointInTimeRecoveryDescription.html,
    PointInTimeRecovery_Howitworks.html)."""
    before = time.time()
    table = _table(ddb)
    earliest, latest = _window(ddb, table)
    assert before - 0.01 <= earliest <= time.time() + 0.01 and earliest <= latest
    time.sleep(0.5)
    asked = time.time()
    earliest_later, latest_later = _window(ddb, table)
    answered = time.time()
    assert earliest_later == earliest
    # The lag behind the moment of the answer (within the call's own duration and the rounding).
    assert latest_later > latest and asked - LAG_S - 0.002 <= latest_later <= answered - LAG_S + 0.002
    off = _table(ddb, pitr=False)
    pitr = ddb.describe_continuous_backups(TableName=off)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"
    ]
    assert pitr == {"PointInTimeRecoveryStatus": "DISABLED"}


@pytest.mark.heavy
def test_the_history_is_bounded_and_the_window_says_so(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20 item 5: the history keeps at most LOCALCLOUD_PITR_MAX_VERSIONS versions per table;
    older versions fold into the base image and EarliestRestorableDateTime moves forward, so a
    time before it is refused (InvalidRestoreTimeException) rather than restored wrongly."""
    monkeypatch.setenv("LOCALCLOUD_PITR_MAX_VERSIONS", "5")
    table = _table(ddb)
    start, _ = _window(ddb, table)
    for i in range(12):
        ddb.put_item(TableName=table, Item=_item(f"k{i % 3}", v=str(i)))
        time.sleep(0.01)
    earliest, _ = _window(ddb, table)
    assert earliest > start
    with pytest.raises(ClientError) as exc:
        ddb.restore_table_to_point_in_time(
            SourceTableName=table, TargetTableName=_name("old"), RestoreDateTime=_at(start)
        )
    assert _code(exc) == "InvalidRestoreTimeException"
    _past_lag()
    target = _name("bounded")
    ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=target, RestoreDateTime=_at(earliest)
    )
    _wait_active(ddb, target)
    # At the earliest time every item is as the 7 folded writes (0..6) left it.
    assert {k: v["v"]["S"] for k, v in _items(ddb, target).items()} == {"k0": "6", "k1": "4", "k2": "5"}


def test_the_history_ages_out_after_the_recovery_period() -> None:
    """Issue 20 item 5: nothing older than the recovery period (35 days, or RecoveryPeriodInDays)
    is restorable (API_PointInTimeRecoverySpecification.html: RecoveryPeriodInDays 1-35)."""
    history = TableHistory(iter(()), now=1_000.0)
    history.record(("k", None), {"id": {"S": "k"}}, now=1_001.0)
    earliest, latest = history.window(now=1_000.0 + 2 * 86_400, period_days=1)
    assert earliest == pytest.approx(1_000.0 + 86_400) and latest >= earliest
    assert len(history) == 0 and history.items_at(earliest) == {("k", None): {"id": {"S": "k"}}}


@pytest.mark.heavy
def test_a_failed_transaction_leaves_no_version(ddb: Any) -> None:
    """Issue 20 item 5: a cancelled TransactWriteItems writes nothing, so a restore after it
    returns the items as they were (API_TransactWriteItems.html: "all or nothing")."""
    table = _table(ddb)
    ddb.put_item(TableName=table, Item=_item("a", v="1"))
    with pytest.raises(ClientError) as exc:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": _item("a", v="2")}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": _item("b", v="1"),
                        "ConditionExpression": "attribute_exists(id)",
                    }
                },
            ]
        )
    assert _code(exc) == "TransactionCanceledException"
    _past_lag()
    target = _name("tx")
    ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=target, UseLatestRestorableTime=True
    )
    _wait_active(ddb, target)
    assert {k: v["v"]["S"] for k, v in _items(ddb, target).items()} == {"a": "1"}


def _assert_copies_only_what_aws_copies(ddb: Any, source: str, target: str) -> None:
    described = ddb.describe_table(TableName=target)["Table"]
    src = ddb.describe_table(TableName=source)["Table"]
    assert described["KeySchema"] == src["KeySchema"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["byCreatedAt"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["SSEDescription"]["KMSMasterKeyArn"] == src["SSEDescription"]["KMSMasterKeyArn"]
    # "You must manually set up the following on the restored table": tags, TTL, PITR, ...
    assert ddb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"] == []
    assert (
        ddb.describe_time_to_live(TableName=target)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
    )
    pitr = ddb.describe_continuous_backups(TableName=target)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    assert described["DeletionProtectionEnabled"] is False


def _kms(ddb: Any) -> Any:
    """KMS where the DynamoDB client points: the moto server, or moto's decorator."""
    url = ddb.meta.endpoint_url
    return boto3.client("kms", region_name=REGION, endpoint_url=url if "127.0.0.1" in url else None)


def _source_with_settings(ddb: Any) -> str:
    kms = _kms(ddb)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    table = _table(
        ddb,
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key},
        Tags=[{"Key": "Environment", "Value": "dev1"}],
        DeletionProtectionEnabled=True,
    )
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
    )
    ddb.put_item(TableName=table, Item=_item("a", v="1"))
    return table


@pytest.mark.heavy
def test_a_point_in_time_restore_is_creating_first_and_copies_only_what_aws_copies(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 5: the restored table is CREATING (RestoreInProgress) and its items answer
    ResourceNotFoundException until it is ACTIVE (API_PutItem.html: "its status might not be
    ACTIVE"); it has the source's key schema, indexes, billing mode and encryption, but not its
    tags, TTL, point-in-time recovery or deletion protection (API_RestoreTableToPointInTime.html:
    "You must manually set up the following on the restored table")."""
    monkeypatch.setenv("LOCALCLOUD_DYNAMODB_RESTORE_S", str(SLOW_RESTORE_S))  # room on a loaded machine
    table = _source_with_settings(ddb)
    _past_lag()
    target = _name("restored")
    answer = ddb.restore_table_to_point_in_time(
        SourceTableName=table, TargetTableName=target, UseLatestRestorableTime=True
    )
    assert answer["TableDescription"]["TableStatus"] == "CREATING"
    assert answer["TableDescription"]["RestoreSummary"]["RestoreInProgress"] is True
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName=target, Key={"id": {"S": "a"}})
    assert _code(exc) == "ResourceNotFoundException"
    waited = _wait_active(ddb, target)
    assert 0 < waited <= SLOW_RESTORE_S + 0.5
    assert ddb.describe_table(TableName=target)["Table"]["RestoreSummary"]["RestoreInProgress"] is False
    assert ddb.get_item(TableName=target, Key={"id": {"S": "a"}})["Item"] == _item("a", v="1")
    _assert_copies_only_what_aws_copies(ddb, table, target)


@pytest.mark.heavy
def test_restore_from_backup_returns_the_backups_items_and_takes_time(
    ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20 item 5: RestoreTableFromBackup returns the items of the backup, not of the table
    now, into a table that is CREATING first, with what AWS copies and nothing more
    (API_RestoreTableFromBackup.html)."""
    monkeypatch.setenv("LOCALCLOUD_DYNAMODB_RESTORE_S", str(SLOW_RESTORE_S))
    table = _source_with_settings(ddb)
    arn = ddb.create_backup(TableName=table, BackupName=_name("bkp"))["BackupDetails"]["BackupArn"]
    ddb.put_item(TableName=table, Item=_item("after", v="1"))
    ddb.delete_item(TableName=table, Key={"id": {"S": "a"}})
    target = _name("from-backup")
    answer = ddb.restore_table_from_backup(TargetTableName=target, BackupArn=arn)
    assert answer["TableDescription"]["TableStatus"] == "CREATING"
    with pytest.raises(ClientError) as exc:
        ddb.scan(TableName=target)
    assert _code(exc) == "ResourceNotFoundException"
    _wait_active(ddb, target)
    assert sorted(_items(ddb, target)) == ["a"]
    _assert_copies_only_what_aws_copies(ddb, table, target)


@pytest.mark.heavy
def test_restore_overrides_replace_what_is_copied(ddb: Any) -> None:
    """Issue 20 item 5: SSESpecificationOverride and BillingModeOverride set the restored table's
    encryption and billing mode (API_RestoreTableToPointInTime.html, request parameters)."""
    table = _source_with_settings(ddb)
    kms = _kms(ddb)
    other = kms.create_key()["KeyMetadata"]["Arn"]
    _past_lag()
    target = _name("override")
    ddb.restore_table_to_point_in_time(
        SourceTableName=table,
        TargetTableName=target,
        UseLatestRestorableTime=True,
        BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
        SSESpecificationOverride={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": other},
    )
    described = ddb.describe_table(TableName=target)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    assert described["SSEDescription"]["KMSMasterKeyArn"] == other
