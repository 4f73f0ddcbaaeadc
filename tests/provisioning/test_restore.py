"""provisioning.restore, restore_data and retained against moto in decorator mode (issue 20).

moto runs no function code here, so the CRUD journey against the new version fails: that is the
failure path this module proves (the live table keeps serving, what the restore made is removed).
The whole cut-over, with the real function, runs in tests/e2e/test_restore_local.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest

from provisioning import restore_data, retained
from provisioning.aws import AwsClients
from provisioning.engine import Engine
from provisioning.names import LIVE_ALIAS
from provisioning.restore import (
    FAILED,
    RestoreInputError,
    RestoreRefused,
    RestoreState,
    parse_request,
    restore,
    with_table,
)
from provisioning.spec import EnvironmentSpec, SpecError, build_spec, spec_from_dict

NOW = dt.datetime(2026, 12, 7, 19, 0, tzinfo=dt.UTC)


def _ddb() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1")


def _table(name: str, items: list[dict[str, Any]]) -> str:
    _ddb().create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        _ddb().put_item(TableName=name, Item={k: {"S": v} for k, v in item.items()})
    return name


# --- names and the spec follow the physical table --------------------------------------------------
def test_the_spec_records_the_physical_table_and_refuses_another_environments() -> None:
    # R-REC-1
    spec = build_spec(suffix="dev1", stage="dev", table_name="envport-dev1-items-r20261207190000")
    assert spec.names.table == "envport-dev1-items-r20261207190000"
    assert spec.names.base_table == "envport-dev1-items"
    assert spec_from_dict(spec.to_dict()).names.table == spec.names.table
    assert with_table(spec, "envport-dev1-items").table_name is None
    for hostile in (
        "envport-dev10-items",
        "envport-dev1-items-r1",
        "other",
        "envport-dev1-items-r20261207190000x",
    ):
        with pytest.raises(SpecError) as caught:
            build_spec(suffix="dev1", stage="dev", table_name=hostile)
        assert caught.value.problems[0].field == "table_name"


# --- input, before any AWS call ----------------------------------------------------------------------
def test_every_problem_is_listed_at_once_before_any_aws_call() -> None:
    # R-REC-1
    spec = build_spec(suffix="dev1", stage="dev")
    far = build_spec(suffix="far1", stage="staging", region="eu-west-1")
    with pytest.raises(RestoreInputError) as caught:
        parse_request(
            spec,
            operation="clone",
            source=far,
            to_time="2026-12-07T18:00:00",
            masks=["id", "x" * 65],
            retention_days=0,
            now=NOW,
        )
    fields = [p.field for p in caught.value.problems]
    assert fields == ["from", "to_time", "mask", "mask", "retention_days"]
    request = parse_request(spec, operation="restore", to_time="2026-12-07T18:00:00+01:00", now=NOW)
    assert request.to_time == dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)
    assert request.source_table == "envport-dev1-items"


# --- data: count, sample, diff, masks ------------------------------------------------------------------
def test_masks_are_stable_pseudonyms_and_a_second_pass_changes_nothing(aws: AwsClients) -> None:
    # R-REC-2
    table = _table(
        "t-mask",
        [
            {"id": "a", "email": "same@example.com", "name": "A"},
            {"id": "b", "email": "same@example.com", "name": "B"},
            {"id": "c", "email": "other@example.com", "name": "C"},
        ],
    )
    key = bytes(32)
    assert restore_data.mask_table(aws, table, ("email",), key) == 3
    got = {i["id"]["S"]: i for i in _ddb().scan(TableName=table)["Items"]}
    assert got["a"]["email"] == got["b"]["email"] != got["c"]["email"]
    assert got["a"]["email"]["S"] == restore_data.pseudonym(key, {"S": "same@example.com"})
    assert got["a"]["name"]["S"] == "A"  # only the named attribute
    assert restore_data.pseudonym(bytes([1] * 32), {"S": "same@example.com"}) != got["a"]["email"]["S"]
    assert restore_data.mask_table(aws, table, ("email",), key) == 0  # interrupted and run again


def test_the_restored_table_is_checked_and_compared_with_the_live_one(aws: AwsClients) -> None:
    # R-REC-1
    restored = _table("t-new", [{"id": "a", "v": "1"}, {"id": "b", "v": "2"}, {"id": "c", "v": "3"}])
    live = _table("t-live", [{"id": "a", "v": "1"}, {"id": "b", "v": "CORRUPT"}, {"id": "z", "v": "9"}])
    check = restore_data.check_table(aws, restored)
    assert (check.items, check.sampled, check.sample_ok) == (3, 3, True)
    diff = restore_data.diff_tables(aws, restored, live)
    assert (diff.only_restored, diff.only_live, diff.changed, diff.same) == (1, 1, 1, 1)
    assert diff.sample[0] == {
        "id": "b",
        "restored": {"id": "b", "v": "2"},
        "live": {"id": "b", "v": "CORRUPT"},
    }


# --- retained tables ---------------------------------------------------------------------------------
def test_retained_tables_are_listed_swept_after_their_period_and_torn_down(aws: AwsClients) -> None:
    # R-REC-1
    names = build_spec(suffix="dev1", stage="dev", table_name="envport-dev1-items-r20261207190000").names
    _table("envport-dev1-items", [{"id": "a"}])
    _table("envport-dev1-items-r20261207190000", [])
    _table("envport-dev1-items-r20261201000000", [])
    _table("envport-dev10-items", [])  # another environment's: never listed
    retained.retain(aws, "envport-dev1-items", names.table, 7, NOW)
    retained.retain(
        aws, "envport-dev1-items-r20261201000000", "envport-dev1-items", 1, NOW - dt.timedelta(days=3)
    )
    listed = retained.list_retained(aws, names)
    assert [t.name for t in listed] == ["envport-dev1-items", "envport-dev1-items-r20261201000000"]
    assert all(t.deletion_protection for t in listed)
    assert listed[0].retained_until == NOW + dt.timedelta(days=7) and listed[0].replaced_by == names.table
    assert retained.sweep_expired(aws, names, NOW) == ["envport-dev1-items-r20261201000000"]
    assert [t.name for t in retained.list_retained(aws, names)] == ["envport-dev1-items"]
    backups = retained.delete_all(aws, names, sleep=lambda _s: None)
    assert len(backups) == 1  # the one that held an item
    assert retained.own_tables(aws, names) == ["envport-dev1-items-r20261207190000"]


# --- the cut-over's failure path and refusals -------------------------------------------------------------
@pytest.fixture
def provisioned(aws: AwsClients) -> EnvironmentSpec:
    spec = build_spec(suffix="dev1", stage="dev", overrides={"pitr": True})
    result = Engine(spec, clients=aws, sleep=lambda _s: None).apply()
    assert result.ok, result.error
    _ddb().put_item(TableName=spec.names.table, Item={"id": {"S": "kept"}})
    return spec


@pytest.mark.heavy
def test_a_failed_journey_leaves_the_live_table_serving_and_removes_what_was_made(
    aws: AwsClients, provisioned: EnvironmentSpec
) -> None:
    # R-REC-1
    spec = provisioned
    lam = boto3.client("lambda", region_name="us-east-1")
    before = lam.get_alias(FunctionName=spec.names.function, Name=LIVE_ALIAS)["FunctionVersion"]
    request = parse_request(spec, operation="restore", backup="latest")
    with pytest.raises(RestoreRefused, match="has no available backup"):
        restore(spec, aws, request, sleep=lambda _s: None)
    from provisioning.backups import take_backup

    take_backup(aws, spec.names, sleep=lambda _s: None)
    seen: list[str] = []
    result = restore(spec, aws, request, on_event=lambda e: seen.append(e.state.phase), sleep=lambda _s: None)
    assert result.outcome == FAILED and not result.ok
    assert result.state.reason is not None and "before any traffic moved" in result.state.reason
    assert seen[-1] == FAILED and "published" in seen and "switched" not in seen
    assert lam.get_alias(FunctionName=spec.names.function, Name=LIVE_ALIAS)["FunctionVersion"] == before
    latest = lam.get_function_configuration(FunctionName=spec.names.function)
    assert latest["Environment"]["Variables"]["TABLE_NAME"] == spec.names.table  # $LATEST back
    assert retained.own_tables(aws, spec.names) == [spec.names.table]  # the restored table is gone
    policies = boto3.client("iam").list_role_policies(RoleName=spec.names.function_role)["PolicyNames"]
    assert policies == [spec.names.function_policy]  # no transitional grant left
    again = restore(spec, aws, request, RestoreState.from_dict(result.state.to_dict()))
    assert again.state.phase == FAILED and again.calls.mutating == 0  # ended once


@pytest.mark.heavy
def test_backups_of_another_account_and_unknown_backups_are_refused_before_any_change(
    aws: AwsClients, provisioned: EnvironmentSpec
) -> None:
    # R-REC-1
    spec = provisioned
    other = "arn:aws:dynamodb:us-east-1:999999999999:table/envport-dev1-items/backup/01733600000000-abcdef12"
    with pytest.raises(RestoreRefused, match="belongs to account 999999999999"):
        restore(spec, aws, parse_request(spec, operation="restore", backup=other))
    unknown = other.replace("999999999999", aws.account_id)
    with pytest.raises(RestoreRefused, match="no backup"):
        restore(spec, aws, parse_request(spec, operation="restore", backup=unknown))
    far = (dt.datetime.now(dt.UTC) - dt.timedelta(days=20)).isoformat()
    with pytest.raises(RestoreRefused, match="outside dev1's restorable window"):
        restore(spec, aws, parse_request(spec, operation="restore", to_time=far))
    assert retained.own_tables(aws, spec.names) == [spec.names.table]
