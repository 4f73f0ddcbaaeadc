"""Celery tasks: thin wrappers around `portal.actions`, which hold the logic.

This module is the one that knows how a run reaches a worker (`send_run`, `enqueue`); it passes
`enqueue` to the schedules, and `portal.dispatch` hands it to the web console and the CLI.
`portal.actions` never imports this module.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import actions
from .models import Deployment
from .notifications import tasks as notification_tasks  # noqa: F401  (the worker registers its task)


@shared_task(name="portal.tasks.run_deployment_task", acks_late=True, reject_on_worker_lost=True)
def run_deployment_task(deployment_id: int) -> str:
    """Run (or resume) one deployment; a duplicate delivery of a live run does nothing."""
    return actions.run_deployment(deployment_id).status


def send_run(deployment_id: int, task_id: str) -> None:
    """Put one run on the broker, under the task id the deployment records."""
    run_deployment_task.apply_async(args=[deployment_id], task_id=task_id)


def enqueue(dep: Deployment) -> None:
    """Send a requested deployment to a worker once the request commits."""
    actions.enqueue(dep, send_run)


@shared_task(name="portal.tasks.scheduled_drift_all")
def scheduled_drift_all() -> list[int]:
    return [d.pk for d in actions.scheduled_drift_all(enqueue)]


@shared_task(name="portal.tasks.scheduled_health_all")
def scheduled_health_all() -> list[int]:
    return [d.pk for d in actions.scheduled_health_all(enqueue)]


@shared_task(name="portal.tasks.teardown_expired_previews")
def teardown_expired_previews() -> list[int]:
    return [d.pk for d in actions.teardown_expired_previews(enqueue)]


@shared_task(name="portal.tasks.reap_stale_deployments")
def reap_stale_deployments() -> dict[str, Any]:
    return actions.reap_stale_deployments(enqueue)
