"""Celery tasks: thin wrappers around `portal.actions`, which hold the logic."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import actions


@shared_task(name="portal.tasks.run_deployment_task", acks_late=True, reject_on_worker_lost=True)
def run_deployment_task(deployment_id: int) -> str:
    """Run (or resume) one deployment; a duplicate delivery of a live run does nothing."""
    return actions.run_deployment(deployment_id).status


@shared_task(name="portal.tasks.scheduled_drift_all")
def scheduled_drift_all() -> list[int]:
    return [d.pk for d in actions.scheduled_drift_all()]


@shared_task(name="portal.tasks.scheduled_health_all")
def scheduled_health_all() -> list[int]:
    return [d.pk for d in actions.scheduled_health_all()]


@shared_task(name="portal.tasks.teardown_expired_previews")
def teardown_expired_previews() -> list[int]:
    return [d.pk for d in actions.teardown_expired_previews()]


@shared_task(name="portal.tasks.reap_stale_deployments")
def reap_stale_deployments() -> dict[str, Any]:
    return actions.reap_stale_deployments()
