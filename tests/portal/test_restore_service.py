"""Restores, undos and clones through the service layer, the CLI and the API: who may, and every
hostile input refused with what is wrong and what is allowed, before anything is queued or any AWS
call is made (issue 20 items 2-4). The cut-over itself runs against the local cloud in
tests/portal/test_restore_e2e.py and tests/e2e/test_restore_local.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from portal.models import AuditEvent, Deployment
from portal.services import restore as restore_service
from portal.services.base import Actor, Conflict, Forbidden, InvalidInput
from portal.targets import clients_for

pytestmark = pytest.mark.django_db

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/envport-{env}-items/backup/01733600000000-abcdef12"


def _user(role: str) -> Actor:
    user = User.objects.create_user(f"{role}-x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return Actor("ui", user)


def _now() -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()


def _nothing_written() -> tuple[int, int]:
    return Deployment.objects.count(), AuditEvent.objects.filter(action__contains="restore").count()


@pytest.fixture
def envs(make_env: Any) -> dict[str, Any]:
    return {
        "dev": make_env("pr1", "dev", status="ready"),
        "staging": make_env("stage1", "staging", status="ready"),
        "prod": make_env("prod1", "prod", status="ready"),
    }


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"to_time": "yesterday"}, "to_time: 'yesterday' is not allowed; an ISO-8601 time"),
        ({"to_time": "2026-12-07T10:00:00"}, "the offset is required"),
        ({"to_time": "2999-01-01T00:00:00Z"}, "a time in the past"),
        ({"to_time": "2001-01-01T00:00:00Z"}, "within the last 35 days"),
        ({"to_time": "x" * 10_000}, "is not allowed; an ISO-8601 time"),
        ({"backup": "arn:aws:s3:::bucket/key"}, "'latest', or the ARN of a backup of pr1's table"),
        ({"backup": ARN.format(env="prod1")}, "a backup of pr1's table, not of envport-prod1-items"),
        ({"backup": ARN.format(env="pr1").replace("us-east-1", "eu-west-1")}, "cross-region restores"),
        ({"backup": "a" * 5000}, "'latest', or the ARN"),
        ({"to_time": _now(), "backup": "latest"}, "either --to-time or --backup, not both"),
        ({}, "--to-time T or --backup ARN|latest"),
        ({"backup": "latest", "masks": ["email"]}, "only with a clone"),
        ({"undo": True, "to_time": _now()}, "--undo alone"),
        ({"backup": "latest", "retention_days": 0}, "a whole number of days from 1 to 35"),
        ({"backup": "latest", "retention_days": 99}, "a whole number of days from 1 to 35"),
    ],
)
def test_hostile_input_is_refused_before_anything_is_queued(envs: Any, kwargs: Any, problem: str) -> None:
    # R-REC-1
    """Issue 20: bad times, times outside the window, ARNs of other tables and regions, limits."""
    before = _nothing_written()
    with pytest.raises(InvalidInput) as caught:
        restore_service.request_restore(Actor.cli(), envs["dev"], **kwargs)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert _nothing_written() == before


@pytest.mark.parametrize(
    ("masks", "problem"),
    [
        (["e" * 65], "an attribute name of 1 to 64"),
        (["bad name"], "an attribute name of 1 to 64"),
        ([f"a{n}" for n in range(17)], "at most 16 attribute names"),
        (["id"], "not a key, index or TTL attribute"),
        (["createdAt"], "not a key, index or TTL attribute"),
        (["email", "email"], "each attribute once"),
    ],
)
def test_mask_names_over_limits_are_refused(envs: Any, masks: list[str], problem: str) -> None:
    # R-REC-2
    before = _nothing_written()
    with pytest.raises(InvalidInput) as caught:
        restore_service.request_restore(Actor.cli(), envs["dev"], source=envs["staging"], masks=masks)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
    assert _nothing_written() == before


def test_clones_across_regions_and_accounts_are_refused_with_a_clear_message(make_env: Any) -> None:
    # R-REC-2
    """Issue 20 item 3: same account and region only, said before any AWS call."""
    dev = make_env("pr1", "dev", status="ready")
    far = make_env("far1", "staging", status="ready", region="eu-west-1")
    other = make_env(
        "acct1", "staging", status="ready", role_arn="arn:aws:iam::999999999999:role/envport-deployer"
    )
    with pytest.raises(InvalidInput) as caught:
        restore_service.request_restore(Actor.cli(), dev, source=far)
    assert any("cross-region clones are refused" in p for p in caught.value.problems)
    with pytest.raises(InvalidInput) as caught:
        restore_service.request_restore(Actor.cli(), dev, source=other)
    assert any("clones stay within one account" in p for p in caught.value.problems)
    with pytest.raises(InvalidInput) as caught:
        restore_service.request_restore(Actor.cli(), dev, source=dev)
    assert any("another environment than the one it clones into" in p for p in caught.value.problems)
    prod = make_env("prod1", "prod", status="ready")
    with pytest.raises(InvalidInput) as caught:  # R-REC-2: into a non-prod environment only
        restore_service.request_restore(Actor.cli(), prod, source=dev)
    assert any("a non-prod environment to clone into" in p for p in caught.value.problems)
    assert not Deployment.objects.exists()


def test_an_environment_that_is_not_provisioned_is_not_restored(make_env: Any) -> None:
    env = make_env("pr2", "dev")
    with pytest.raises(InvalidInput) as caught:
        restore_service.request_restore(Actor.cli(), env, backup="latest")
    assert "provision it first" in caught.value.problems[0]


def test_who_may_restore_and_clone(envs: Any) -> None:
    # R-REC-1
    """Issue 20 item 4: operators restore non-prod; restoring into prod and cloning from prod are
    admin-only; viewers never; each request is one audited run with its source and time."""
    operator, admin, viewer = _user("operator"), _user("admin"), _user("viewer")
    with pytest.raises(Forbidden):
        restore_service.request_restore(viewer, envs["dev"], backup="latest")
    with pytest.raises(Forbidden, match="needs an admin"):
        restore_service.request_restore(operator, envs["prod"], backup="latest")
    with pytest.raises(Forbidden, match="cloning the data of prod"):
        restore_service.request_restore(operator, envs["dev"], source=envs["prod"], masks=["email"])
    assert not Deployment.objects.exists()
    noted = _now()
    dep = restore_service.request_restore(operator, envs["dev"], to_time=noted)
    assert dep.kind == "restore" and dep.options["operation"] == "restore"
    assert dep.options["point_in_time"] == dt.datetime.fromisoformat(noted).isoformat()
    audit = AuditEvent.objects.get(action="deployment.requested.restore")
    assert audit.detail["options"]["source_environment"] == "pr1" and audit.who == operator.user
    with pytest.raises(Conflict):  # one run of the environment at a time
        restore_service.request_restore(operator, envs["dev"], backup="latest")
    clone = restore_service.request_restore(admin, envs["staging"], source=envs["prod"], masks=["email"])
    assert clone.options["operation"] == "clone" and clone.options["masks"] == ["email"]
    assert clone.options["source_environment"] == "prod1"


def test_the_cli_refuses_bad_input_with_exit_2(cli: Any, envs: Any) -> None:
    result = cli("restore", "pr1", "--to-time", "not-a-time", "--yes", "--json")
    assert result.code == 2
    assert "to_time: 'not-a-time' is not allowed" in result.err
    assert result.json()["problems"]
    result = cli("restore", "pr1", "--from", "stage1", "--mask", "id", "--yes")
    assert result.code == 2 and "not a key, index or TTL attribute" in result.err
    result = cli("restore", "prod1", "--backup", "latest")  # prod needs --yes
    assert result.code == 2 and "needs --yes" in result.err
    assert not Deployment.objects.exists()


def test_the_sweep_deletes_expired_retained_tables_through_the_guard(make_env: Any, moto_target: Any) -> None:
    # R-REC-1
    """Issue 20 item 2: the hourly sweep (a schedule, through the service layer and the guard)
    deletes the tables a restore replaced once their retention is over, and audits it; an
    operator may not sweep."""
    import boto3

    from portal import tasks
    from provisioning import retained

    env = make_env("pr1", "dev", status="ready")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for name in (
        "envport-pr1-items",
        "envport-pr1-items-r20261101000000",
        "envport-pr1-items-r20261201000000",
    ):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    clients = clients_for(env)
    now = dt.datetime.now(dt.UTC)
    retained.retain(
        clients, "envport-pr1-items-r20261101000000", "envport-pr1-items", 1, now - dt.timedelta(days=2)
    )
    retained.retain(clients, "envport-pr1-items-r20261201000000", "envport-pr1-items", 7, now)
    assert restore_service.sweep_retained_all(_user("operator")) == {}  # refused: nothing deleted
    assert len(ddb.list_tables()["TableNames"]) == 3
    assert tasks.scheduled_retained_sweep() == {"pr1": ["envport-pr1-items-r20261101000000"]}
    assert sorted(ddb.list_tables()["TableNames"]) == [
        "envport-pr1-items",
        "envport-pr1-items-r20261201000000",
    ]
    event = AuditEvent.objects.get(action="environment.retained_tables_deleted")
    assert event.source == "schedule" and event.detail == {"tables": ["envport-pr1-items-r20261101000000"]}
