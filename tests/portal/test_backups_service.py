"""Backups in the service layer and the CLI (`manage.py backup`, `manage.py backups`), against moto.

Who may: viewers list, operators back up non-prod, admins prod; every refusal before any AWS call;
exit codes 0 taken/listed, 1 AWS failed, 2 refused; a torn-down environment's backups still listed.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from django.contrib.auth.models import Group, User

from portal.models import AuditEvent, Environment
from portal.services import backups
from portal.services.base import Actor, Forbidden
from portal.targets import target_for
from provisioning.aws import AwsClients
from provisioning.reconcile import converge
from provisioning.resources.base import Context
from provisioning.resources.kms_key import KmsKey
from provisioning.resources.table import Table

pytestmark = pytest.mark.django_db

READY = Environment.Status.READY


def _ui(role: str) -> Actor:
    user = User.objects.create_user(f"{role}-user", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return Actor("ui", user)


def _provision_table(env: Environment) -> str:
    """The environment's KMS key and table, as the engine makes them (the rest is not needed)."""
    ctx = Context(spec=env.spec(), aws=AwsClients(target_for(env.region)), sleep=lambda _s: None)
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    name = env.spec().names.table
    boto3.client("dynamodb", region_name=env.region).put_item(TableName=name, Item={"id": {"S": "a"}})
    return name


@pytest.mark.heavy
def test_roles_decide_who_lists_and_who_backs_up(make_env: Any, moto_target: None) -> None:
    """Issue 20 item 1: viewers list; operators back up non-prod but not prod; admins back up prod;
    each refusal is Forbidden before any AWS call and leaves no backup."""
    dev, prod = make_env("bk1", status=READY), make_env("bkprod", stage="prod", status=READY)
    _provision_table(dev)
    _provision_table(prod)
    viewer, operator, admin = _ui("viewer"), _ui("operator"), _ui("admin")

    assert backups.list_backups(viewer, dev)["on_demand"] == []
    with pytest.raises(Forbidden, match="needs an operator or an admin"):
        backups.take_backup(viewer, dev)
    with pytest.raises(Forbidden, match="needs an admin"):
        backups.take_backup(operator, prod)
    assert boto3.client("dynamodb", region_name="us-east-1").list_backups()["BackupSummaries"] == []

    taken = backups.take_backup(operator, dev)
    assert taken["name"].startswith("envport-bk1-ondemand-") and taken["status"] == "AVAILABLE"
    assert backups.take_backup(admin, prod)["name"].startswith("envport-bkprod-ondemand-")
    assert [b["arn"] for b in backups.list_backups(viewer, dev)["on_demand"]] == [taken["arn"]]

    event = AuditEvent.objects.filter(action="environment.backup_taken", environment=dev).get()
    assert event.actor == "operator-user" and event.detail["arn"] == taken["arn"]
    nobody = User.objects.create_user("nobody", is_staff=True)
    with pytest.raises(Forbidden, match="needs any role"):
        backups.list_backups(Actor("ui", nobody), dev)
    with pytest.raises(Forbidden):
        backups.list_backups(Actor("api", None), dev)


def test_cli_backup_and_backups_with_json(cli: Any, make_env: Any, moto_target: None) -> None:
    """Issue 20 item 1: `manage.py backup NAME --json` takes one (exit 0); `manage.py backups NAME
    --json` lists it with the point-in-time window; the same without --json in words."""
    env = make_env("bk2", status=READY)
    table = _provision_table(env)
    taken = cli("backup", "bk2", "--json")
    assert taken.code == 0, taken.err
    document = taken.json()
    assert document["status"] == "succeeded" and document["backup"]["table_name"] == table
    listed = cli("backups", "bk2", "--json")
    assert listed.code == 0, listed.err
    assert [b["arn"] for b in listed.json()["on_demand"]] == [document["backup"]["arn"]]
    assert listed.json()["point_in_time"]["status"] in ("enabled", "disabled")
    words = cli("backups", "bk2")
    assert (
        words.code == 0 and "on-demand backups: 1" in words.out and "pre-teardown backups: none" in words.out
    )
    assert "backed up envport-bk2-items as envport-bk2-ondemand-" in cli("backup", "bk2").out


def test_a_torn_down_environment_keeps_its_backups_listed(cli: Any, make_env: Any, moto_target: None) -> None:
    """Issue 20 item 1: after a teardown the table is gone, the pre-teardown backup is listed, the
    window says there is no table, and a new backup is refused (exit 2) before any AWS call."""
    env = make_env("bk3", status=READY)
    table = _provision_table(env)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_backup(TableName=table, BackupName=f"{env.spec().names.backup_prefix}-20261207170000")
    ddb.delete_table(TableName=table)
    Environment.objects.filter(pk=env.pk).update(status=Environment.Status.TORN_DOWN)

    listed = cli("backups", "bk3", "--json")
    assert listed.code == 0, listed.err
    assert [b["name"] for b in listed.json()["pre_teardown"]] == ["envport-bk3-teardown-20261207170000"]
    assert listed.json()["point_in_time"]["status"] == "table-gone"
    refused = cli("backup", "bk3", "--json")
    assert refused.code == 2
    assert refused.json()["status"] == "refused" and "torn down" in refused.json()["problems"][0]


def test_exit_codes_for_unknown_hostile_and_failed(cli: Any, make_env: Any, moto_target: None) -> None:
    """Issue 20 item 1: an unknown or hostile name is refused (exit 2, one JSON document); a ready
    environment whose table DynamoDB cannot find fails (exit 1) and the failure is audited."""
    for name in ("nope", "x" * 5000, "../../etc/passwd", "bk4'; drop table--"):
        for command in ("backup", "backups"):
            result = cli(command, name, "--json")
            assert result.code == 2 and result.json()["status"] == "refused"
            assert "unknown environment" in result.json()["error"]
    make_env("bk4", status=READY)  # READY on record, no table in AWS
    failed = cli("backup", "bk4", "--json")
    assert failed.code == 1 and failed.json()["status"] == "failed"
    assert "no table envport-bk4-items to back up" in failed.json()["error"]
    assert AuditEvent.objects.filter(action="environment.backup_failed", environment_suffix="bk4").exists()
