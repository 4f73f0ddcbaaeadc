"""Sweeps spread over their interval with jitter and never double-enqueue (R-FLEET-3); their runs
take tokens as sweeps on their own queue and share reads; a person's run goes ahead (R-FLEET-1)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.utils import timezone

from portal import fleet_limits, tasks
from portal.celery import app
from portal.models import Deployment
from portal.services import runs as run_service
from portal.services import schedules as schedule_service
from portal.services.base import Actor, Conflict
from provisioning.ratelimit import OPERATOR, SWEEP

pytestmark = pytest.mark.django_db

CLI = Actor.cli()


def _ready(make_env: Any, n: int) -> list[Any]:
    return [make_env(f"fl{i}", status="ready") for i in range(n)]


def _offset(dep: Deployment, now: dt.datetime) -> float:
    return (dt.datetime.fromisoformat(dep.options["not_before"]) - now).total_seconds()


# R-FLEET-3
def test_a_sweep_spreads_its_checks_over_the_interval_with_jitter(make_env: Any) -> None:
    envs = _ready(make_env, 6)
    sent: list[Deployment] = []
    now = timezone.now()
    deps = schedule_service.scheduled_drift_all(sent.append, rng=random.Random(7))
    assert len(deps) == 6 and sent == deps
    window = 30 * 60 * 0.8  # the drift schedule's interval (migration 0002) times ENVPORT_SWEEP_SPREAD
    offsets = [_offset(d, now) for d in deps]
    width = window / len(envs)
    for i, offset in enumerate(offsets):  # one in each slice of the window, at a random point
        assert i * width - 1 <= offset <= (i + 1) * width + 1, (i, offset)
    assert len({round(o) for o in offsets}) == 6
    assert len({d.options["sweep"] for d in deps}) == 1  # one sweep: its reads are shared
    # other draws land elsewhere in their slices: jitter, not a fixed grid
    again = schedule_service.spread_offsets([e.pk for e in envs], window, random.Random(8))
    assert list(again.values()) != [round(o, 3) for o in offsets]


# R-FLEET-3
def test_a_check_still_queued_is_never_enqueued_twice(make_env: Any) -> None:
    _ready(make_env, 3)
    first = schedule_service.scheduled_drift_all(lambda _d: None)
    assert len(first) == 3
    assert schedule_service.scheduled_drift_all(lambda _d: None) == []  # all still queued: nothing new
    assert Deployment.objects.count() == 3
    Deployment.objects.filter(pk=first[0].pk).update(status=Deployment.Status.SUCCEEDED)
    (again,) = schedule_service.scheduled_drift_all(lambda _d: None)
    assert again.environment_id == first[0].environment_id


# R-FLEET-1
def test_a_persons_run_supersedes_a_queued_check_but_a_schedule_never_supersedes_a_person(
    make_env: Any,
) -> None:
    (env,) = _ready(make_env, 1)
    (check,) = schedule_service.scheduled_health_all(lambda _d: None)
    provision = run_service.request_deployment(CLI, env, "provision")
    check.refresh_from_db()
    assert check.status == "cancelled" and "superseded by a provision" in check.error
    assert provision.status == "queued"
    with pytest.raises(Conflict):
        run_service.request_deployment(CLI, env, "teardown")
    assert schedule_service.scheduled_drift_all(lambda _d: None) == []  # the person's run holds it


# R-FLEET-1
def test_sweeps_go_to_their_own_queue_at_their_moment(
    make_env: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    sent: list[dict[str, Any]] = []

    def apply_async(args: list[int], task_id: str, **routing: Any) -> None:
        sent.append({"pk": args[0], **routing})

    monkeypatch.setattr(tasks.run_deployment_task, "apply_async", apply_async)
    _ready(make_env, 2)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        deps = schedule_service.scheduled_drift_all(tasks.enqueue, rng=random.Random(1))
        person = run_service.request_deployment(CLI, make_env("fl9"), "provision")
        tasks.enqueue(person)
    by_pk = {s["pk"]: s for s in sent}
    for dep in deps:
        assert by_pk[dep.pk]["queue"] == "sweeps"
        assert by_pk[dep.pk]["countdown"] == pytest.approx(_offset(dep, now), abs=2)
    assert "queue" not in by_pk[person.pk]  # the default queue: runs
    assert app.conf.task_default_queue == "runs"
    for task in ("scheduled_drift_all", "scheduled_health_all", "teardown_expired_previews"):
        assert app.amqp.router.route({}, f"portal.tasks.{task}")["queue"].name == "sweeps"
    assert app.amqp.router.route({}, "portal.tasks.run_deployment_task")["queue"].name == "runs"


# R-FLEET-1 R-FLEET-2
def test_a_sweeps_run_yields_and_shares_a_persons_does_not(make_env: Any) -> None:
    (env,) = _ready(make_env, 1)
    (check,) = schedule_service.scheduled_drift_all(lambda _d: None)
    assert fleet_limits.priority_of(check) == SWEEP
    shared = fleet_limits.shared_reads(check)
    assert shared is not None and shared.sweep == check.options["sweep"]
    Deployment.objects.filter(pk=check.pk).update(status="succeeded")
    mine = run_service.request_deployment(CLI, env, "drift")
    assert fleet_limits.priority_of(mine) == OPERATOR and fleet_limits.shared_reads(mine) is None
    assert fleet_limits.limiter() is not None  # every run's clients pass it


def test_a_check_superseded_by_a_persons_run_is_requeued_after_it(
    make_env: Any, engine: Any, eager_celery: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue 23: schedules are not starved by people. The health check a person's drift superseded
    runs once the drift has finished (health stayed unknown for minutes after `make up` before),
    once only, and a run that was itself the check, or left nothing to check, requeues nothing."""
    # R-FLEET-1 R-OPS-3
    (env,) = _ready(make_env, 1)
    (check,) = schedule_service.scheduled_health_all(lambda _d: None)
    drift = run_service.request_deployment(CLI, env, "drift")
    check.refresh_from_db()
    assert check.status == "cancelled" and drift.options == {run_service.REQUEUE_AFTER: "health"}
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.run_deployment_task(drift.pk) == "succeeded"
    drift.refresh_from_db()
    (again,) = Deployment.objects.filter(environment=env, kind="health").exclude(pk=check.pk)
    assert again.trigger == "schedule" and again.status == "succeeded"
    assert again.created_at >= drift.finished_at
    assert [c[0] for c in engine.calls] == ["drift", "health"]  # after the person's run, not before
    env.refresh_from_db()
    assert env.health == "healthy"

    # a duplicate delivery of the finished drift requeues nothing more
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_deployment_task(drift.pk)
    assert Deployment.objects.filter(environment=env, kind="health").count() == 2

    # a person's drift that superseded the sweep's drift was that check: nothing to requeue
    (sweep_drift,) = schedule_service.scheduled_drift_all(lambda _d: None)
    person = run_service.request_deployment(CLI, env, "drift")
    assert person.options == {run_service.REQUEUE_AFTER: "drift"}
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_deployment_task(person.pk)
    sweep_drift.refresh_from_db()
    assert sweep_drift.status == "cancelled"
    assert not Deployment.objects.filter(
        environment=env, kind="drift", created_at__gt=person.created_at
    ).exists()

    # a teardown leaves nothing to check
    (check,) = schedule_service.scheduled_health_all(lambda _d: None)
    teardown = run_service.request_deployment(CLI, env, "teardown", {"backup": False})
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_deployment_task(teardown.pk)
    assert Deployment.objects.filter(environment=env, kind="health").count() == 3  # the cancelled one
    assert not Deployment.objects.filter(environment=env, status__in=["queued", "running"]).exists()


def test_a_check_superseded_by_an_inline_cli_run_is_requeued_after_it(
    make_env: Any, engine: Any, cli: Any, eager_celery: None, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue 23: the same for a run in the CLI's own process (`--inline`): the check goes to the
    workers once the run has finished."""
    # R-FLEET-1
    (env,) = _ready(make_env, 1)
    schedule_service.scheduled_health_all(lambda _d: None)
    with django_capture_on_commit_callbacks(execute=True):
        result = cli("verify", env.suffix, "--inline")
    assert result.code == 0, result.err
    assert [c[0] for c in engine.calls] == ["verify", "health"]
    assert Deployment.objects.filter(environment=env, kind="health", status="succeeded").count() == 1
