"""Emitting an event: called where it happens, inside its transaction; nothing is sent until that
transaction commits (a rolled-back run notifies no one), and then only by a Celery task.

`run_finished` is the runner's one call: it works out the events of a finished run (failed or
succeeded, drift found, health changed, a release rolled back).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from portal.tokens.reach import matches

from .models import EVENTS, Delivery, NotificationRule

log = logging.getLogger("portal.notifications")

# Kinds whose success is news: not a plan (it changes nothing), nor the schedule's drift and
# health checks every few minutes.
SUCCESS_KINDS = ("provision", "verify", "teardown", "release", "rollback", "restore")


def console_url(deployment_id: int | None) -> str | None:
    if deployment_id is None:
        return None
    return settings.ENVPORT_BASE_URL + reverse("admin:portal_deployment_change", args=[deployment_id])


def emit(
    event: str, env: Any, *, deployment: Any = None, summary: str = "", detail: dict[str, Any] | None = None
) -> None:
    """Queue `event` about `env` for every matching rule's channel, once the transaction commits."""
    if event not in EVENTS:
        raise KeyError(event)
    payload = {
        "event": event,
        "summary": summary or f"{EVENTS[event]}: {env.suffix}",
        "environment": {"name": env.suffix, "stage": env.stage},
        "run": (
            {
                "id": deployment.pk,
                "kind": deployment.kind,
                "status": deployment.status,
                "result": deployment.result or None,
                "url": console_url(deployment.pk),
            }
            if deployment is not None
            else None
        ),
        "detail": detail or {},
    }
    transaction.on_commit(
        partial(_fan_out, event, env.suffix, env.stage, deployment.pk if deployment else None, payload)
    )


def channels_for(event: str, suffix: str, stage: str) -> list[int]:
    """The channels whose enabled rules choose this event, this stage and this name."""
    found: list[int] = []
    rules = NotificationRule.objects.filter(enabled=True, channel__enabled=True).select_related("channel")
    for rule in rules:
        if event not in (rule.events or []):
            continue
        if rule.stages and stage not in rule.stages:
            continue
        if not matches(rule.environments, suffix):
            continue
        if rule.channel_id not in found:
            found.append(rule.channel_id)
    return found


def _fan_out(event: str, suffix: str, stage: str, deployment_id: int | None, payload: dict[str, Any]) -> None:
    """After the commit: a Delivery per channel, each sent by its own task. Never raises: a
    notification that cannot be queued must not fail what caused it."""
    from .tasks import deliver

    try:
        for channel_id in channels_for(event, suffix, stage):
            delivery = Delivery.objects.create(
                channel_id=channel_id,
                event=event,
                environment_suffix=suffix,
                deployment_id=deployment_id,
                payload=payload,
            )
            try:
                deliver.apply_async(args=[delivery.pk])
            except Exception as exc:  # the broker is down: the delivery stays pending, on record
                log.error("notification %s could not be queued: %s", delivery.pk, exc)
                Delivery.objects.filter(pk=delivery.pk).update(error=f"could not be queued: {exc}")
    except Exception:
        log.exception("notifications of %s for %s not queued", event, suffix)


def run_finished(dep: Any, env_before: Any, env_updates: dict[str, Any]) -> None:
    """The events of a finished run `dep` of the environment `env_before` (as it was when the run
    started), given what the run changes on it."""
    env = env_before
    first_error = (dep.error or "").splitlines()[0][:300] if dep.error else ""
    findings = dep.findings.count() if dep.kind == "drift" else 0
    if findings:
        emit(
            "drift.found",
            env,
            deployment=dep,
            summary=f"drift found on {env.suffix}: {findings} difference(s)",
            detail={"findings": findings, "error": first_error},
        )
    elif dep.kind != "health" and dep.status == "failed":
        emit(
            "run.failed",
            env,
            deployment=dep,
            summary=f"{dep.kind} of {env.suffix} failed: {first_error}",
            detail={"error": first_error},
        )
    elif dep.kind in SUCCESS_KINDS and dep.status == "succeeded":
        emit("run.succeeded", env, deployment=dep, summary=f"{dep.kind} of {env.suffix} succeeded")
    if dep.result == "rolled_back":
        reason = (dep.outputs or {}).get("rollback_reason") or first_error
        emit(
            "release.rolled_back",
            env,
            deployment=dep,
            summary=f"{dep.kind} of {env.suffix} rolled back" + (f": {reason}" if reason else ""),
            detail={"reason": reason},
        )
    health = env_updates.get("health")
    if health is not None and health != env.health:
        emit(
            "health.changed",
            env,
            deployment=dep,
            summary=f"{env.suffix} is {health} (was {env.health})",
            detail={"from": env.health, "to": health, "detail": env_updates.get("health_detail", "")},
        )
