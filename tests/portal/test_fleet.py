"""Sweeps spread over their interval with jitter and never double-enqueue (R-FLEET-3); their runs
take tokens as sweeps on their own queue and share reads; a person's run goes ahead (R-FLEET-1)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.utils import timezone

from portal import actions, quotas, tasks
from portal.celery import app
from portal.models import Deployment
from provisioning.quotas import OPERATOR, SWEEP

pytestmark = pytest.mark.django_db

CLI = actions.Actor.cli()


def _ready(make_env: Any, n: int) -> list[Any]:
    return [make_env(f"fl{i}", status="ready") for i in range(n)]


def _offset(dep: Deployment, now: dt.datetime) -> float:
    return (dt.datetime.fromisoformat(dep.options["not_before"]) - now).total_seconds()


# R-FLEET-3
def test_a_sweep_spreads_its_checks_over_the_interval_with_jitter(make_env: Any) -> None:
    envs = _ready(make_env, 6)
    sent: list[Deployment] = []
    now = timezone.now()
    deps = actions.scheduled_drift_all(sent.append, rng=random.Random(7))
    assert len(deps) == 6 and sent == deps
    window = 30 * 60 * 0.8  # the drift schedule's interval (migration 0002) times ENVPORT_SWEEP_SPREAD
    offsets = [_offset(d, now) for d in deps]
    width = window / len(envs)
    for i, offset in enumerate(offsets):  # one in each slice of the window, at a random point
        assert i * width - 1 <= offset <= (i + 1) * width + 1, (i, offset)
    assert len({round(o) for o in offsets}) == 6
    assert len({d.options["sweep"] for d in deps}) == 1  # one sweep: its reads are shared
    # other draws land elsewhere in their slices: jitter, not a fixed grid
    again = actions.spread_offsets([e.pk for e in envs], window, random.Random(8))
    assert list(again.values()) != [round(o, 3) for o in offsets]


# R-FLEET-3
def test_a_check_still_queued_is_never_enqueued_twice(make_env: Any) -> None:
    _ready(make_env, 3)
    first = actions.scheduled_drift_all(lambda _d: None)
    assert len(first) == 3
    assert actions.scheduled_drift_all(lambda _d: None) == []  # all still queued: nothing new
    assert Deployment.objects.count() == 3
    Deployment.objects.filter(pk=first[0].pk).update(status=Deployment.Status.SUCCEEDED)
    (again,) = actions.scheduled_drift_all(lambda _d: None)
    assert again.environment_id == first[0].environment_id


# R-FLEET-1
def test_a_persons_run_supersedes_a_queued_check_but_a_schedule_never_supersedes_a_person(
    make_env: Any,
) -> None:
    (env,) = _ready(make_env, 1)
    (check,) = actions.scheduled_health_all(lambda _d: None)
    provision = actions.request_deployment(CLI, env, "provision")
    check.refresh_from_db()
    assert check.status == "cancelled" and "superseded by a provision" in check.error
    assert provision.status == "queued"
    with pytest.raises(actions.Conflict):
        actions.request_deployment(CLI, env, "teardown")
    assert actions.scheduled_drift_all(lambda _d: None) == []  # the person's run holds it


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
        deps = actions.scheduled_drift_all(tasks.enqueue, rng=random.Random(1))
        person = actions.request_deployment(CLI, make_env("fl9"), "provision")
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
    (check,) = actions.scheduled_drift_all(lambda _d: None)
    assert quotas.priority_of(check) == SWEEP
    shared = quotas.shared_reads(check)
    assert shared is not None and shared.sweep == check.options["sweep"]
    Deployment.objects.filter(pk=check.pk).update(status="succeeded")
    mine = actions.request_deployment(CLI, env, "drift")
    assert quotas.priority_of(mine) == OPERATOR and quotas.shared_reads(mine) is None
    assert quotas.limiter() is not None  # every run's clients pass it
