"""The delivery task: one attempt per run of the task, retried with exponential backoff.

Each attempt is recorded on the Delivery (status, attempts, response code, error), whatever went
wrong in it; a delivery that gives up counts against its channel, which the admin shows as
failing after a few in a row. A refused URL or address gives up at once: retrying cannot help.

The task runs on the `notifications` queue (settings.CELERY_TASK_ROUTES), never on `runs`: a
receiver as slow as the deadline allows holds a notifications worker, not a run.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from . import channels
from .models import Delivery, NotificationChannel


def attempt(delivery_id: int) -> str:
    """Try one delivery once and record it; returns its status (delivered, retrying or failed)."""
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    if delivery.status in (Delivery.Status.DELIVERED, Delivery.Status.FAILED):
        return delivery.status  # a duplicate run of the task
    try:
        outcome = channels.send(delivery.channel, delivery)
    except Exception as exc:  # a bug or an unforeseen answer: still an attempt, on record
        outcome = channels.Outcome(False, None, f"{type(exc).__name__}: {exc}")
    now = timezone.now()
    attempts = delivery.attempts + 1
    if outcome.ok:
        state = Delivery.Status.DELIVERED
        NotificationChannel.objects.filter(pk=delivery.channel_id).update(
            consecutive_failures=0, last_success_at=now
        )
    elif outcome.final or attempts >= settings.ENVPORT_NOTIFY_MAX_ATTEMPTS:
        state = Delivery.Status.FAILED
        NotificationChannel.objects.filter(pk=delivery.channel_id).update(
            consecutive_failures=F("consecutive_failures") + 1,
            last_failure_at=now,
            last_error=outcome.error[:2000],
        )
    else:
        state = Delivery.Status.RETRYING
    Delivery.objects.filter(pk=delivery.pk).update(
        status=state,
        attempts=attempts,
        response_code=outcome.response_code,
        error=outcome.error[:2000],
        last_attempt_at=now,
        delivered_at=now if outcome.ok else None,
    )
    return state


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: the base, doubled after each failed one."""
    return float(settings.ENVPORT_NOTIFY_BACKOFF_SECONDS) * float(2 ** max(attempts - 1, 0))


@shared_task(name="portal.notifications.deliver", bind=True, acks_late=True, max_retries=None)
def deliver(self: Any, delivery_id: int) -> str:
    state = attempt(delivery_id)
    if state == Delivery.Status.RETRYING:
        attempts = Delivery.objects.values_list("attempts", flat=True).get(pk=delivery_id)
        raise self.retry(countdown=backoff(attempts))
    return state
