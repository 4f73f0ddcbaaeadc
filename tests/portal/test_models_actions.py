"""Models, the one-active-deployment constraint, validation through build_spec, run bookkeeping."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.models import AuditEvent, CheckResult, Deployment, DriftFinding, Environment, Step
from portal.runner import public_outputs
from portal.services import environments, schedules
from portal.services import runs as run_service
from portal.services.base import Actor, Conflict, InvalidInput

CLI = Actor.cli()


# --- Environment: validation is build_spec's ---------------------------------------------------
@pytest.mark.django_db
def test_clean_maps_every_spec_problem_to_its_field():
    env = Environment(
        suffix="X",
        stage="qa",
        region="mars",
        alarm_emails=["nope"],
        overrides={"memory_mb": 99999, "colour": "red"},
    )
    with pytest.raises(ValidationError) as caught:
        env.full_clean()
    errors = caught.value.message_dict
    assert set(errors) == {"suffix", "stage", "region", "alarm_emails", "overrides"}
    assert len(errors["suffix"]) == 1 and "3 to 20 characters" in errors["suffix"][0]  # no duplicate message
    assert any(m.startswith("memory_mb: 99999") for m in errors["overrides"])
    assert any(m.startswith("colour: 'red'") for m in errors["overrides"])


@pytest.mark.django_db
def test_create_environment_refuses_with_every_problem_and_saves_nothing():
    with pytest.raises(InvalidInput) as caught:
        environments.create_environment(
            CLI, suffix="bad_suffix", stage="dev", region="xx", overrides={"reserved_concurrency": -1}
        )
    assert len(caught.value.problems) == 3
    assert not Environment.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_spec_effective_settings_and_str(make_env):
    env = make_env("stg1", stage="staging", overrides={"memory_mb": "1024", "pitr": "false"})
    assert env.overrides == {"memory_mb": 1024, "pitr": False}  # typed on save
    spec = env.spec()
    assert spec.settings.memory_mb == 1024 and spec.settings.pitr is False and spec.stage == "staging"
    rows = {r["key"]: r for r in env.effective_settings()}
    assert rows["memory_mb"]["source"] == "overridden" and rows["memory_mb"]["default"] == 512
    assert rows["log_retention_days"] == {
        "key": "log_retention_days",
        "value": 30,
        "default": 30,
        "source": "inherited",
        "allowed": rows["log_retention_days"]["allowed"],
    }
    assert str(env) == "stg1 (staging)"
    dep = Deployment.objects.create(environment=env, kind="plan")
    assert str(dep) == f"#{dep.pk} plan stg1 (queued)"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("region", "eu-west-1"),
        ("stage", "staging"),
        # probe: role_arn changed on a provisioned environment, a move to another account that
        # orphans the old resources and creates a second copy
        ("role_arn", "arn:aws:iam::123456789012:role/other"),
    ],
)
def test_placement_cannot_change_once_provisioned(make_env, field, value):
    role = "arn:aws:iam::111111111111:role/x"
    env = make_env("dev1", status="ready", role_arn=role)
    with pytest.raises(InvalidInput) as caught:
        environments.update_environment(CLI, env, **{field: value})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{field}: cannot change while the environment has live resources")
    assert "tear it down first" in problem
    env.refresh_from_db()
    assert getattr(env, field) != value
    for status in ("new", "torn_down"):  # no resources: it may move
        fresh = make_env(f"n-{status.replace('_', '')}", status=status, role_arn=role)
        assert getattr(environments.update_environment(CLI, fresh, **{field: value}), field) == value


@pytest.mark.django_db
def test_external_id_cannot_change_once_provisioned(make_env):
    """probe: external_id changed on a provisioned environment (the account's trust changes under it)."""
    env = make_env("dev1", status="failed", role_arn="arn:aws:iam::111111111111:role/x", external_id="a")
    with pytest.raises(InvalidInput) as caught:
        environments.update_environment(CLI, env, external_id="b", owner="team-b")
    assert [p.split(":")[0] for p in caught.value.problems] == ["external_id"]
    env.refresh_from_db()
    assert (env.external_id, env.owner) == ("a", "")  # nothing of the refused update was kept


# --- one queued or running deployment per environment ------------------------------------------
@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_a_second_active_deployment(make_env):
    env = make_env("dev1")
    Deployment.objects.create(environment=env, kind="provision", status="queued")
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.create(environment=env, kind="drift", status="running")
    # finished ones do not count
    Deployment.objects.create(environment=env, kind="drift", status="succeeded")
    Deployment.objects.create(environment=env, kind="drift", status="failed")


@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_second_request_is_refused_with_a_message_naming_the_first(make_env, engine):
    env = make_env("dev1")
    first = run_service.request_deployment(CLI, env, "provision")
    with pytest.raises(Conflict) as caught:
        run_service.request_deployment(CLI, env, "drift")
    assert f"deployment #{first.pk} (provision, queued" in str(caught.value)
    assert caught.value.running.pk == first.pk
    assert Deployment.objects.count() == 1
    other = make_env("dev2")
    run_service.request_deployment(CLI, other, "provision")  # another environment is not held
    run_service.run_deployment(first.pk)
    second = run_service.request_deployment(CLI, env, "drift")  # once finished, the next one may go
    assert second.status == "queued"


@pytest.mark.django_db
def test_cancel_only_a_queued_deployment(make_env):
    env = make_env("dev1")
    dep = run_service.request_deployment(CLI, env, "provision")
    assert run_service.cancel_deployment(CLI, dep).status == "cancelled"
    with pytest.raises(Conflict, match="only a queued"):
        run_service.cancel_deployment(CLI, dep)
    assert run_service.run_deployment(dep.pk).status == "cancelled"  # a late task does nothing


# --- runs -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_run_writes_steps_as_they_finish(make_env, engine):
    env = make_env("dev1")
    dep = run_service.request_deployment(CLI, env, "provision", {"verify": False})
    seen = []

    def progress(step: Step) -> None:  # each step is in the database when the callback sees it
        seen.append((step.position, Step.objects.filter(deployment=dep).count()))

    done = run_service.run_deployment(dep.pk, progress=progress)
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert done.status == "succeeded" and done.started_at and done.finished_at and done.heartbeat_at
    assert list(done.steps.values_list("resource", "action", "calls")) == [
        ("kms_key", "create", 3),
        ("table", "create", 3),
        ("function", "create", 3),
        ("rest_api", "create", 3),
    ]
    assert done.calls_total == 12 and done.calls_by_operation == {"dynamodb.DescribeTable": 12}


@pytest.mark.django_db
def test_run_costs_one_insert_per_step(make_env, engine):
    """No N+1: the queries of a run grow by exactly one per step (its INSERT)."""

    def queries(n_steps: int, suffix: str) -> int:
        engine.resources = [f"r{i}" for i in range(n_steps)]
        dep = run_service.request_deployment(CLI, make_env(suffix), "provision")
        with CaptureQueriesContext(connection) as ctx:
            run_service.run_deployment(dep.pk)
        return len(ctx.captured_queries)

    assert queries(12, "big1") - queries(2, "small1") == 10


@pytest.mark.django_db
def test_a_redelivered_task_resumes_a_run_whose_worker_died(make_env, engine):
    env = make_env("dev1")
    dep = run_service.request_deployment(CLI, env, "provision")
    long_ago = timezone.now() - dt.timedelta(hours=1)
    Deployment.objects.filter(pk=dep.pk).update(
        status="running", heartbeat_at=long_ago, started_at=long_ago, attempts=1
    )
    Step.objects.create(
        deployment=dep,
        position=1,
        resource="table",
        kind="table",
        action="create",
        status="succeeded",
        started_offset_s=0,
        seconds=1,
    )
    CheckResult.objects.create(deployment=dep, name="stale", passed=False)
    done = run_service.run_deployment(dep.pk)
    assert done.status == "succeeded" and done.attempts == 2
    assert done.started_at == long_ago  # the run's start is kept
    assert list(done.steps.values_list("position", flat=True)) == [1, 2, 3, 4]  # replaced, not appended
    assert not done.checks.filter(name="stale").exists()


@pytest.mark.django_db
def test_a_duplicate_task_leaves_a_live_run_alone(make_env, engine):
    env = make_env("dev1")
    dep = run_service.request_deployment(CLI, env, "provision")
    Deployment.objects.filter(pk=dep.pk).update(status="running", heartbeat_at=timezone.now(), attempts=1)
    assert run_service.run_deployment(dep.pk).status == "running"
    assert engine.calls == []
    Deployment.objects.filter(pk=dep.pk).update(status="succeeded")
    assert run_service.run_deployment(dep.pk).status == "succeeded"
    assert engine.calls == []


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_run_with_its_message(make_env, engine, monkeypatch):
    from portal import runner

    def broken(*_args, **_kwargs):
        raise RuntimeError("credentials expired")

    monkeypatch.setattr(runner, "run_verify", broken)
    env = make_env("dev1")
    dep = run_service.run_deployment(run_service.request_deployment(CLI, env, "provision").pk)
    assert dep.status == "failed" and "RuntimeError: credentials expired" in dep.error
    assert Environment.objects.get().status == "ready"  # the apply had succeeded; verification broke

    monkeypatch.setattr(runner, "make_engine", broken)
    dep = run_service.run_deployment(
        run_service.request_deployment(CLI, Environment.objects.get(), "provision").pk
    )
    assert dep.status == "failed" and Environment.objects.get().status == "failed"


@pytest.mark.django_db
def test_health_run_records_probe_and_alarms(make_env, engine):
    env = make_env("dev1", status="ready")
    engine.health, engine.alarms = "degraded", ["envport-dev1-lambda-errors"]
    dep = run_service.run_deployment(
        run_service.request_deployment(Actor.schedule("health"), env, "health").pk
    )
    assert dep.status == "failed" and dep.trigger == "schedule"
    assert list(dep.checks.values_list("name", "passed", "http_status")) == [
        ("API probe", True, 200),
        ("alarm envport-dev1-lambda-errors", False, None),
    ]
    env.refresh_from_db()
    assert env.health == "degraded" and env.health_checked_at is not None and "scripted" in env.health_detail


def test_outputs_never_keep_a_key_value():
    outputs = {
        "api_key_id": "abc",
        "api_key_value": "s3cr3t",
        "api_key": "s3cr3t",
        "ApiKeyValue": "s3cr3t",
        "table_name": "t",
        "client_secret": "x",
    }
    assert public_outputs(outputs) == {"api_key_id": "abc", "table_name": "t"}


# --- the reaper ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_reaper_requeues_once_then_gives_up(make_env, settings):
    settings.ENVPORT_STALE_AFTER_SECONDS = 60
    env = make_env("dev1", status="provisioning")
    now = timezone.now()
    dep = Deployment.objects.create(
        environment=env,
        kind="provision",
        status="running",
        heartbeat_at=now - dt.timedelta(minutes=5),
        attempts=1,
    )
    fresh_env = make_env("dev2")
    alive = Deployment.objects.create(
        environment=fresh_env, kind="provision", status="running", heartbeat_at=now
    )
    sent = []
    assert schedules.reap_stale_deployments(sent.append, now=now) == {"requeued": [dep.pk], "failed": []}
    assert [d.pk for d in sent] == [dep.pk]
    # the re-queued task has not started yet: nothing more to do for now
    assert schedules.reap_stale_deployments(sent.append, now=now + dt.timedelta(seconds=30)) == {
        "requeued": [],
        "failed": [],
    }
    # still no heartbeat long after the re-queue: the run is abandoned with a clear error
    later = now + dt.timedelta(minutes=3)
    Deployment.objects.filter(pk=alive.pk).update(heartbeat_at=later)  # its worker keeps beating
    assert schedules.reap_stale_deployments(sent.append, now=later) == {"requeued": [], "failed": [dep.pk]}
    dep.refresh_from_db()
    env.refresh_from_db()
    assert dep.status == "failed" and "lost" in dep.error and env.status == "failed"
    assert len(sent) == 1
    assert list(
        AuditEvent.objects.filter(source="schedule").values_list("action", flat=True).order_by("id")
    ) == ["deployment.requeued", "deployment.abandoned"]


@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_heartbeat_thread_touches_a_running_deployment(make_env):
    from portal.runner import _Heartbeat

    env = make_env("dev1")
    long_ago = timezone.now() - dt.timedelta(hours=1)
    dep = Deployment.objects.create(
        environment=env, kind="provision", status="running", heartbeat_at=long_ago
    )
    with _Heartbeat(dep.pk, 0.05):
        deadline = time.monotonic() + 5
        while Deployment.objects.get(pk=dep.pk).heartbeat_at == long_ago and time.monotonic() < deadline:
            time.sleep(0.05)
    assert Deployment.objects.get(pk=dep.pk).heartbeat_at > long_ago


@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_an_unreachable_broker_does_not_hold_the_environment(make_env, monkeypatch, cli, engine):
    from portal import tasks

    def refuse(*_args, **_kwargs):
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr(tasks.run_deployment_task, "apply_async", refuse)
    make_env("dev1")
    result = cli("provision", "dev1", "--json")
    assert result.code == 1
    assert result.json()["status"] == "cancelled" and "--inline" in result.json()["error"]
    assert cli("provision", "dev1", "--inline").code == 0  # nothing left holding it


@pytest.mark.django_db
def test_drift_finding_keeps_structured_values(make_env):
    env = make_env("dev1")
    dep = Deployment.objects.create(environment=env, kind="drift", status="failed")
    DriftFinding.objects.create(
        deployment=dep,
        environment=env,
        resource="role",
        field="policy",
        wanted={"Statement": [1]},
        found="(missing)",
    )
    finding = DriftFinding.objects.get()
    assert (
        finding.wanted == {"Statement": [1]}
        and finding.found == "(missing)"
        and str(finding) == "role.policy"
    )
