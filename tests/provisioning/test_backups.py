"""provisioning.backups: on-demand backups, the listing of an environment's backups and its
point-in-time window, including a torn-down environment's (moto decorator mode, fidelity fixes)."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

from provisioning import backups
from provisioning.aws import AwsClients
from provisioning.engine import Engine
from provisioning.reconcile import converge
from provisioning.resources.base import Context
from provisioning.resources.kms_key import KmsKey
from provisioning.resources.table import Table
from provisioning.spec import EnvironmentSpec, build_spec


def _ddb():
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def table(ctx: Context) -> str:
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    _ddb().put_item(TableName=ctx.names.table, Item={"id": {"S": "a"}})
    return ctx.names.table


def test_an_on_demand_backup_is_named_for_the_environment_and_waited_for(
    aws: AwsClients, spec: EnvironmentSpec, table: str
) -> None:
    """Issue 20 item 1: `backup NAME` takes an on-demand backup of the environment's table, named
    with its prefix, AVAILABLE when returned, carrying the environment's tags in the record."""
    now = dt.datetime(2026, 12, 7, 17, 0, 5, tzinfo=dt.UTC)
    taken = backups.take_backup(aws, spec.names, tags=spec.tags, now=now)
    assert taken.name == "envport-dev1-ondemand-20261207170005"
    assert taken.kind == backups.ON_DEMAND and taken.status == "AVAILABLE" and taken.table_name == table
    assert taken.tags["Environment"] == "dev1"
    described = _ddb().describe_backup(BackupArn=taken.arn)["BackupDescription"]
    assert described["BackupDetails"]["BackupName"] == taken.name


def test_a_backup_of_a_missing_table_says_why(aws: AwsClients, spec: EnvironmentSpec) -> None:
    """Issue 20 item 1: no table (never provisioned, or torn down): a clear refusal."""
    with pytest.raises(backups.BackupError, match="no table envport-dev1-items to back up"):
        backups.take_backup(aws, spec.names)


def test_names_are_matched_exactly_never_by_a_longer_suffix() -> None:
    """Issue 20 item 1: dev1's listing never shows dev10's backups, nor anything else's."""
    names = build_spec(suffix="dev1", stage="dev", owner="o", cost_centre="c").names
    assert backups.backup_kind(names, "envport-dev1-ondemand-20261207170005") == backups.ON_DEMAND
    assert backups.backup_kind(names, "envport-dev1-teardown-20261207170005") == backups.PRE_TEARDOWN
    for other in (
        "envport-dev10-ondemand-20261207170005",
        "envport-dev1-ondemand-2026",
        "envport-dev1-other-20261207170005",
        "xenvport-dev1-teardown-20261207170005",
    ):
        assert backups.backup_kind(names, other) is None


# R-REC-1
@pytest.mark.heavy
def test_the_listing_has_both_kinds_and_the_window_even_after_teardown(
    aws: AwsClients, spec: EnvironmentSpec, table: str
) -> None:
    """Issue 20 item 1: `backups NAME` lists on-demand and pre-teardown backups and the
    point-in-time window; after a teardown the table is gone but its backups are still listed."""
    first = backups.take_backup(aws, spec.names, now=dt.datetime(2026, 12, 7, 17, 0, 0, tzinfo=dt.UTC))
    second = backups.take_backup(aws, spec.names, now=dt.datetime(2026, 12, 7, 17, 0, 1, tzinfo=dt.UTC))
    # A neighbour's backup with a longer suffix is not ours.
    other = build_spec(suffix="dev10", stage="dev", owner="o", cost_centre="c")
    _ddb().create_backup(TableName=table, BackupName=f"{other.names.on_demand_backup_prefix}-20261207170000")

    _ddb().update_continuous_backups(  # dev's default is off; staging and prod have it on
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    listing = backups.list_backups(aws, spec.names, tags=spec.tags)
    assert {b.arn for b in listing.on_demand} == {first.arn, second.arn}
    assert listing.pre_teardown == []
    window = listing.point_in_time
    assert window.enabled and window.earliest is not None and window.latest is not None
    assert window.earliest <= window.latest and window.recovery_period_days == 35

    result = Engine(spec, clients=aws, sleep=lambda _s: None).destroy()
    assert result.ok, result.error
    after = backups.list_backups(aws, spec.names)
    assert {b.arn for b in after.on_demand} == {first.arn, second.arn}
    assert [b.kind for b in after.pre_teardown] == [backups.PRE_TEARDOWN]
    assert after.pre_teardown[0].name.startswith("envport-dev1-teardown-")
    assert after.point_in_time.status == "table-gone"
    document = after.to_dict()
    assert document["point_in_time"]["summary"] == "no table envport-dev1-items: no point-in-time window"
    assert document["pre_teardown"][0]["table_name"] == table


def test_pitr_off_is_reported_as_off(aws: AwsClients, spec: EnvironmentSpec, table: str) -> None:
    """Issue 20 item 1: a table without point-in-time recovery: "PITR off", no window."""
    _ddb().update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    window = backups.point_in_time_window(aws, spec.names)
    assert window.status == "disabled" and window.describe() == "PITR off"
    assert window.to_dict()["earliest"] is None
