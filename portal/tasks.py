"""Celery tasks: thin wrappers around `portal.services` (runs and schedules), which hold the logic.

This module is the one that knows how a run reaches a worker (`send_run`, `enqueue`); it passes
`enqueue` to the schedules, and `portal.dispatch` hands it to the web console and the CLI.
`portal.services` never imports this module.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from celery import shared_task
from django.utils import timezone

from portal.services import runs as run_service
from portal.services import schedules as schedule_service
from portal.services.base import Actor

from .fleet_limits import is_sweep
from .models import Deployment
from .notifications import tasks as notification_tasks  # noqa: F401  (the worker registers its task)


@shared_task(name="portal.tasks.run_deployment_task", acks_late=True, reject_on_worker_lost=True)
def run_deployment_task(deployment_id: int) -> str:
    """Run (or resume) one deployment; a duplicate delivery of a live run does nothing. A sweep's
    check the run superseded is requested again once it has finished."""
    dep = run_service.run_deployment(deployment_id)
    run_service.requeue_superseded(dep, enqueue)
    return dep.status


RUNS_QUEUE = "runs"  # operators' runs
SWEEPS_QUEUE = "sweeps"  # schedules and their checks (R-FLEET-1): their own workers


def send_run(deployment_id: int, task_id: str) -> None:
    """Put one run on the broker (the runs queue), under the task id the deployment records."""
    run_deployment_task.apply_async(args=[deployment_id], task_id=task_id)


def send_check(deployment_id: int, task_id: str, countdown: float = 0.0) -> None:
    """Put one sweep's check on the sweeps queue, due `countdown` seconds from now."""
    run_deployment_task.apply_async(
        args=[deployment_id], task_id=task_id, queue=SWEEPS_QUEUE, countdown=countdown or None
    )


def enqueue(dep: Deployment) -> None:
    """Send a requested deployment to a worker once the request commits: a sweep's check to the
    sweeps queue, due at its moment of the interval (`options["not_before"]`, R-FLEET-3)."""
    if not is_sweep(dep):
        run_service.enqueue(dep, send_run)
        return
    countdown = 0.0
    not_before = dep.options.get("not_before")
    if not_before:
        countdown = max(0.0, (dt.datetime.fromisoformat(not_before) - timezone.now()).total_seconds())
    run_service.enqueue(dep, functools.partial(send_check, countdown=countdown))


@shared_task(name="portal.tasks.scheduled_drift_all")
def scheduled_drift_all() -> list[int]:
    return [d.pk for d in schedule_service.scheduled_drift_all(enqueue)]


@shared_task(name="portal.tasks.scheduled_health_all")
def scheduled_health_all() -> list[int]:
    return [d.pk for d in schedule_service.scheduled_health_all(enqueue)]


@shared_task(name="portal.tasks.teardown_expired_previews")
def teardown_expired_previews() -> list[int]:
    return [d.pk for d in schedule_service.teardown_expired_previews(enqueue)]


@shared_task(name="portal.tasks.reap_stale_deployments")
def reap_stale_deployments() -> dict[str, Any]:
    return schedule_service.reap_stale_deployments(enqueue)


@shared_task(name="portal.tasks.scheduled_cost_all")
def scheduled_cost_all() -> int:
    """Issue 21: every provisioned environment's cost estimate, stored (docs/cost.md)."""
    from .costs import service as cost_service

    return len(cost_service.compute_all(Actor.schedule("portal.tasks.scheduled_cost_all")))


@shared_task(name="portal.tasks.scheduled_retained_sweep")
def scheduled_retained_sweep() -> dict[str, list[str]]:
    """Issue 20: delete the tables restores replaced once their retention period is over."""
    from .services import restore as restore_service

    return restore_service.sweep_retained_all(Actor.schedule("portal.tasks.scheduled_retained_sweep"))
