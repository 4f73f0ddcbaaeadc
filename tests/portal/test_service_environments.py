"""The service's rules for environments, whatever the path: audit records, who may lift deletion
protection, expiry on prod, deletion, and how runs reach a worker (issue 8, section 1)."""

from __future__ import annotations

import ast
import datetime as dt
import pathlib

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from portal import tasks
from portal.models import AuditEvent, Deployment, Environment
from portal.services import audit as audit_service
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services import schedules
from portal.services.base import Actor, Forbidden, InvalidInput

pytestmark = pytest.mark.django_db

CLI = Actor.cli()
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _user(role: str) -> User:
    user = User.objects.create_user(role, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _ui(role: str) -> Actor:
    return Actor("ui", _user(role))


# --- one audit format for every change -----------------------------------------------------------
def test_field_changes_is_one_diff_for_create_update_and_delete():
    before = {"owner": "a", "overrides": {"memory_mb": 512}, "region": "us-east-1"}
    after = {"owner": "b", "overrides": {"timeout_s": 20}, "region": "us-east-1"}
    assert audit_service.field_changes(before, after) == {
        "owner": {"before": "a", "after": "b"},
        "overrides": {"before": {"memory_mb": 512}, "after": {"timeout_s": 20}},  # the whole dict
    }
    assert audit_service.field_changes(None, after)["region"] == {"before": None, "after": "us-east-1"}
    assert audit_service.field_changes(before, None)["region"] == {"before": "us-east-1", "after": None}


def test_cli_create_update_and_delete_are_audited_with_before_and_after(cli, make_env):
    """probe: audit payloads differ by path (field names in one, before/after in the other), and
    deleting an environment leaves no audit record."""
    create = ("env", "create", "dev1", "--stage", "dev", "--owner", "team-a", "--set", "memory_mb=512")
    assert cli(*create).code == 0
    created = AuditEvent.objects.get(action="environment.created")
    changes = created.detail["changes"]
    assert set(changes) == set(environment_service.AUDITED)  # every initial value, before null
    assert changes["owner"] == {"before": None, "after": "team-a"}
    assert changes["overrides"] == {"before": None, "after": {"memory_mb": 512}}

    assert cli("env", "update", "dev1", "--owner", "team-b", "--set", "memory_mb=").code == 0
    updated = AuditEvent.objects.get(action="environment.updated")
    assert updated.detail == {
        "changes": {
            "owner": {"before": "team-a", "after": "team-b"},
            "overrides": {"before": {"memory_mb": 512}, "after": {}},
        }
    }
    assert (updated.source, updated.actor) == ("cli", CLI.name)

    refused = cli("env", "delete", "dev1")  # a confirmation is needed
    assert refused.code == 2 and "--yes" in refused.err and Environment.objects.filter(suffix="dev1").exists()
    assert cli("env", "delete", "dev1", "--yes").code == 0
    deleted = AuditEvent.objects.get(action="environment.deleted")
    assert deleted.environment is None and deleted.environment_suffix == "dev1"  # kept once it is gone
    assert deleted.detail["changes"]["owner"] == {"before": "team-b", "after": None}
    assert set(deleted.detail["changes"]) == set(environment_service.AUDITED)


def test_an_update_that_changes_nothing_writes_nothing(make_env):
    env = make_env("dev1", owner="team-a")
    before = env.updated_at
    environment_service.update_environment(CLI, env, owner="team-a", overrides={})
    assert not AuditEvent.objects.filter(action="environment.updated").exists()
    assert Environment.objects.get().updated_at == before


# --- lifting deletion protection: admin-only, always audited --------------------------------------
def test_cli_lifting_protection_through_the_overrides_is_audited_as_such(cli, make_env):
    """probe: `env update --set deletion_protection=false` lifts protection without the
    `environment.protection_lifted` event. The CLI acts with admin rights (it holds the database's
    credentials) but is audited like anybody."""
    make_env("prod1", "prod", status="ready")
    result = cli("env", "update", "prod1", "--set", "deletion_protection=false")
    assert result.code == 0, result.err
    assert not Environment.objects.get().protected
    lifted = AuditEvent.objects.get(action="environment.protection_lifted")
    assert (lifted.source, lifted.actor, lifted.environment_suffix) == ("cli", CLI.name, "prod1")


# R-OPS-4: a prod environment's deletion protection is lifted by an admin only, by every path
@pytest.mark.parametrize(
    ("actor", "may"),
    [
        (lambda: _ui("viewer"), False),
        (lambda: _ui("operator"), False),
        (lambda: Actor.schedule("expiry"), False),
        (lambda: _ui("admin"), True),
        (lambda: CLI, True),
        (lambda: Actor.cli(_user("operator")), False),  # a CLI actor with a user is that user
    ],
)
def test_who_may_lift_protection_is_decided_in_the_service(make_env, actor, may):
    env = make_env("prod1", "prod", status="ready")
    who = actor()
    assert environment_service.may_lift_protection(who) is may
    if not may:
        # refused by role: 403 (Forbidden), not 400; a viewer or a schedule may not change it at all
        with pytest.raises(Forbidden) as caught:
            environment_service.update_environment(who, env, overrides={"deletion_protection": False})
        if who.source != "schedule" and who.user.username == "operator":
            assert caught.value.problems == [f"overrides: {environment_service.ADMIN_ONLY_LIFT}"]
        with pytest.raises(Forbidden):
            environment_service.lift_protection(who, env)
        assert Environment.objects.get().protected
        assert not AuditEvent.objects.filter(action="environment.protection_lifted").exists()
        return
    environment_service.lift_protection(who, env)
    assert not Environment.objects.get().protected
    assert AuditEvent.objects.filter(action="environment.protection_lifted").count() == 1  # not twice


def test_stage_change_that_unprotects_is_lifting_too(make_env):
    """probe: an operator turns a (not yet provisioned) prod environment into dev, which has no
    deletion protection: the same lift, blamed on the stage."""
    env = make_env("prod1", "prod")
    with pytest.raises(Forbidden) as caught:
        environment_service.update_environment(_ui("operator"), env, stage="dev")
    assert caught.value.problems == [f"stage: {environment_service.ADMIN_ONLY_LIFT}"]
    environment_service.update_environment(_ui("admin"), env, stage="dev")
    assert AuditEvent.objects.filter(action="environment.protection_lifted").count() == 1


def test_creating_prod_without_protection_is_admin_only(make_env):
    """probe: an operator creates a prod environment with deletion_protection=false."""
    fields = {"suffix": "prod1", "stage": "prod", "overrides": {"deletion_protection": False}}
    with pytest.raises(Forbidden, match="prod1"):
        environment_service.create_environment(_ui("operator"), **fields)
    assert not Environment.objects.exists()
    environment_service.create_environment(CLI, **fields)
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "environment.created",
        "environment.protection_lifted",
    ]


# --- expiry is for previews -------------------------------------------------------------------------
# R-OPS-5: only previews expire
def test_an_expiry_on_prod_is_refused_on_create_and_update(make_env):
    soon = timezone.now() + dt.timedelta(days=1)
    with pytest.raises(InvalidInput) as caught:
        environment_service.create_environment(CLI, suffix="prod1", stage="prod", expires_at=soon)
    assert any(p.startswith("expires_at: an expiry is for previews") for p in caught.value.problems)
    env = make_env("prod1", "prod", overrides={"deletion_protection": False})
    with pytest.raises(InvalidInput, match="prod1"):
        environment_service.update_environment(CLI, env, expires_at=soon)
    with pytest.raises(InvalidInput):  # nor by becoming prod while it has one
        environment_service.update_environment(
            CLI, make_env("stg1", "staging", expires_at=soon), stage="prod"
        )
    assert Environment.objects.get(suffix="prod1").expires_at is None


# R-OPS-5
def test_a_new_environment_cannot_start_expired_by_any_path(make_env):
    """probe: `env create --expires 2020-01-01` was accepted (and so was a past date in the admin's
    add form), and the hourly sweep would tear the new environment down at once. The rule is the
    service's, so the form and the CLI both show it; an update may still set a past expiry (the
    sweep takes the preview at its next run)."""
    past = timezone.now() - dt.timedelta(hours=1)
    with pytest.raises(InvalidInput) as caught:
        environment_service.create_environment(CLI, suffix="pr1", stage="dev", expires_at=past)
    assert any(p.startswith("expires_at:") and "in the past" in p for p in caught.value.problems)
    assert not Environment.objects.filter(suffix="pr1").exists()
    env = make_env("pr2", "dev")
    environment_service.update_environment(CLI, env, expires_at=past)
    assert Environment.objects.get(suffix="pr2").expires_at == past


# R-OPS-5
@pytest.mark.parametrize("command", ["create", "update"])
def test_cli_expires_on_prod_exits_2_with_the_problem(cli, make_env, command):
    if command == "update":
        make_env("prod1", "prod")
        args = ["env", "update", "prod1", "--expires", "+7d", "--json"]
    else:
        args = ["env", "create", "prod1", "--stage", "prod", "--expires", "+7d", "--json"]
    result = cli(*args)
    assert result.code == 2
    assert any(p.startswith("expires_at: an expiry is for previews") for p in result.json()["problems"])
    assert "expires_at" in result.err


# R-OPS-5: the expiry schedule tears down previews only
def test_expiry_task_rechecks_stage_and_protection_before_any_teardown(make_env):
    """probe: an operator (403 on a prod teardown) sets expires_at in the past on an unprotected
    prod environment and the hourly task tears it down. A row that predates the rule (written
    around the service here) must still not be torn down; nor a protected preview."""
    past = timezone.now() - dt.timedelta(hours=1)
    prod = make_env("prod1", "prod", status="ready", overrides={"deletion_protection": False})
    guarded = make_env("pr1", "dev", status="ready", overrides={"deletion_protection": True})
    preview = make_env("pr2", "dev", status="ready")
    Environment.objects.filter(pk__in=[prod.pk, guarded.pk, preview.pk]).update(expires_at=past)

    sent: list[Deployment] = []
    started = schedules.teardown_expired_previews(sent.append)
    assert [d.environment.suffix for d in started] == ["pr2"] and sent == started
    assert not Deployment.objects.filter(environment__in=[prod, guarded]).exists()
    skipped = AuditEvent.objects.filter(action="environment.expiry_skipped")
    assert {e.environment_suffix: e.detail["reason"] for e in skipped} == {
        "prod1": "a prod environment never expires; remove its expiry",
        "pr1": "it has deletion protection; an admin may lift it",
    }
    assert schedules.teardown_expired_previews(sent.append) == []  # an hour later: audited once
    assert skipped.count() == 2


# --- deletion ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["ready", "failed", "provisioning", "tearing_down"])
def test_delete_is_refused_while_the_environment_has_live_resources(make_env, status):
    env = make_env("dev1", status=status)
    with pytest.raises(InvalidInput) as caught:
        environment_service.delete_environment(CLI, env)
    assert "tear it down first" in caught.value.problems[0]
    assert Environment.objects.exists() and not AuditEvent.objects.filter(action="environment.deleted")


def test_cli_delete_of_an_environment_with_resources_is_exit_2_and_keeps_it(cli, make_env):
    make_env("dev1", status=Environment.Status.READY)
    result = cli("env", "delete", "dev1", "--yes", "--json")
    assert result.code == 2 and result.json()["status"] == "refused"
    assert any("tear" in p for p in result.json()["problems"])
    assert Environment.objects.filter(suffix="dev1").exists()
    assert not AuditEvent.objects.filter(action="environment.deleted").exists()


def test_delete_is_refused_while_a_run_is_queued(make_env):
    """probe: the record of a new environment is deleted while its first provision is queued (the
    worker would then create resources no record knows)."""
    env = make_env("dev1")
    run_service.request_deployment(CLI, env, "provision")
    with pytest.raises(InvalidInput, match="cannot be deleted") as caught:
        environment_service.delete_environment(CLI, env)
    assert "queued or running deployment" in caught.value.problems[0]
    assert Environment.objects.exists()


# --- runs reach a worker without actions importing tasks ---------------------------------------
def test_actions_does_not_import_the_tasks():
    """The service takes its dispatcher from the caller (issue 8: actions and tasks imported each other)."""
    trees = [ast.parse(path.read_text()) for path in sorted((ROOT / "portal" / "services").glob("*.py"))]
    imported = {
        (node.module or "") + "." + alias.name if isinstance(node, ast.ImportFrom) else alias.name
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not [name for name in imported if "tasks" in name or "dispatch" in name]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """What reached the Celery broker: (deployment id, task id)."""
    sent: list[tuple[int, str]] = []

    def apply_async(args: list[int], task_id: str, **_routing: object) -> None:  # queue, countdown
        sent.append((args[0], task_id))

    monkeypatch.setattr(tasks.run_deployment_task, "apply_async", apply_async)
    return sent


def test_every_caller_still_enqueues_on_commit(
    make_env, engine, broker, django_capture_on_commit_callbacks, cli, monkeypatch
):
    from portal.console import views
    from portal.management import cli as cli_module

    make_env("dev1", status="ready")
    with django_capture_on_commit_callbacks(execute=True):
        (drift,) = tasks.scheduled_drift_all()  # the beat's tasks pass their own dispatcher
    with django_capture_on_commit_callbacks(execute=True):
        views.dispatch(run_service.request_deployment(CLI, make_env("dev2"), "provision"))  # console, admin
    make_env("dev3")

    def worker_runs_it(_seconds: float) -> None:  # no worker here: the CLI's first wait runs it
        run_service.run_deployment(Deployment.objects.latest("pk").pk)

    monkeypatch.setattr(cli_module, "_sleep", worker_runs_it)
    with django_capture_on_commit_callbacks(execute=True):
        assert cli("provision", "dev3", "--no-verify").code == 0  # the CLI without --inline
    deps = list(Deployment.objects.order_by("pk"))
    assert [d.environment.suffix for d in deps] == ["dev1", "dev2", "dev3"] and drift == deps[0].pk
    assert broker == [(d.pk, d.celery_task_id) for d in deps]
