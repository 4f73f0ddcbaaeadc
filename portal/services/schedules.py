"""What the schedules do (Celery beat's tasks call these): drift and health sweeps of every
provisioned environment spread over their interval (R-FLEET-3), the teardown of expired previews
(R-OPS-5), and the reaper of runs whose worker died. Each is given the dispatcher that sends its
runs; each run it requests passes the one guard as the schedule's actor, whose rules
(`authz.ACTIONS`, `schedule=True`) allow only these sweeps."""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.models import AuditEvent, Deployment, Environment
from portal.services.audit import audit
from portal.services.authz import PROD
from portal.services.base import ActionError, Actor
from portal.services.runs import Dispatch, provisioned, request_deployment

log = logging.getLogger("portal.services.schedules")


def _request_each(
    kind: str,
    envs: QuerySet[Environment] | Iterable[Environment],
    actor: Actor,
    dispatch: Dispatch,
    options: Mapping[str, Any] | None = None,
    offsets: Mapping[int, float] | None = None,
) -> list[Deployment]:
    """`offsets`: seconds after now at which each environment's (by pk) run may start."""
    started = []
    now = timezone.now()
    for env in envs:
        own = dict(options or {})
        if offsets is not None and offsets.get(env.pk):
            own["not_before"] = (now + dt.timedelta(seconds=offsets[env.pk])).isoformat()
        try:
            dep = request_deployment(actor, env, kind, own)
        except ActionError as exc:
            log.info("scheduled %s of %s skipped: %s", kind, env.suffix, exc)
            continue
        dispatch(dep)
        started.append(dep)
    return started


def scheduled_drift_all(dispatch: Dispatch, *, rng: random.Random | None = None) -> list[Deployment]:
    """R-OPS-2: a drift check of every provisioned environment, spread over the interval (R-FLEET-3)."""
    return _sweep(Deployment.Kind.DRIFT, "portal.tasks.scheduled_drift_all", 1800, dispatch, rng)


def scheduled_health_all(dispatch: Dispatch, *, rng: random.Random | None = None) -> list[Deployment]:
    """R-OPS-3: alarm states and a light request against every provisioned environment."""
    return _sweep(Deployment.Kind.HEALTH, "portal.tasks.scheduled_health_all", 300, dispatch, rng)


def schedule_interval_s(task: str, default: float) -> float:
    """The interval of the schedule that runs `task` (django-celery-beat's row), or `default`."""
    from django_celery_beat.models import PeriodicTask

    row = PeriodicTask.objects.filter(task=task, enabled=True).select_related("interval").first()
    if row is None or row.interval is None:
        return default
    return float(row.interval.schedule.run_every.total_seconds())


def spread_offsets(pks: list[int], window_s: float, rng: random.Random | None = None) -> dict[int, float]:
    """Seconds after now for each check: one in each equal slice of the window, at a random point
    of its slice (jitter), so N checks arrive at the rate N / window rather than all at once."""
    rng = rng or random.Random()
    if not pks or window_s <= 0:
        return {pk: 0.0 for pk in pks}
    width = window_s / len(pks)
    return {pk: round((i + rng.random()) * width, 3) for i, pk in enumerate(pks)}


def _sweep(
    kind: str, task: str, default_interval_s: float, dispatch: Dispatch, rng: random.Random | None
) -> list[Deployment]:
    """Every provisioned environment's check, each at its own moment of the interval, sharing one
    sweep id (their account-wide reads are shared, R-FLEET-2). An environment whose previous check
    is still queued or running is skipped: the database's one-active-run rule says so."""
    envs = list(provisioned().order_by("region", "role_arn", "suffix"))
    window = schedule_interval_s(task, default_interval_s) * settings.ENVPORT_SWEEP_SPREAD
    offsets = spread_offsets([e.pk for e in envs], window, rng)
    options = {"sweep": f"{kind}-{uuid.uuid4().hex[:12]}"}
    return _request_each(kind, envs, Actor.schedule(kind), dispatch, options, offsets)


def expiry_refusal(env: Environment) -> str | None:
    """Why the expiry schedule must not tear `env` down, if it must not: an expiry is for previews,
    never a back door to a prod teardown (the service refuses one on prod, but a row may predate
    that rule, or have been written around it), and protection is lifted by an admin only."""
    if env.stage == PROD:
        return "a prod environment never expires; remove its expiry"
    if env.protected:
        return "it has deletion protection; an admin may lift it"
    return None


def _skip_expired(env: Environment, reason: str, actor: Actor) -> None:
    """Log every hour, audit once per change of the environment (not every hour)."""
    log.warning("expired environment %s not torn down: %s", env.suffix, reason)
    said = AuditEvent.objects.filter(
        environment=env, action="environment.expiry_skipped", at__gte=env.updated_at
    ).exists()
    if not said:
        detail = {"reason": reason, "expires_at": env.expires_at}
        audit(actor, "environment.expiry_skipped", env, detail=detail)


def teardown_expired_previews(dispatch: Dispatch, now: dt.datetime | None = None) -> list[Deployment]:
    """R-OPS-5: tear down previews past their expiry (with a backup of a table holding items).

    Each one's stage and protection are checked again first (`expiry_refusal`): a prod or a
    protected environment is skipped with the reason logged and audited. A teardown that failed
    is not retried every hour unless the environment changed since.
    """
    now = now or timezone.now()
    actor = Actor.schedule("expiry")
    expired = (
        Environment.objects.filter(expires_at__lte=now)
        .exclude(status__in=[Environment.Status.TORN_DOWN, Environment.Status.TEARING_DOWN])
        .select_related("last_deployment")
    )
    due = []
    for env in expired:
        reason = expiry_refusal(env)
        if reason is not None:
            _skip_expired(env, reason, actor)
            continue
        last = env.last_deployment
        failed_already = (
            last is not None
            and last.kind == Deployment.Kind.TEARDOWN
            and last.status == Deployment.Status.FAILED
            and env.updated_at < last.created_at
        )
        if not failed_already:
            due.append(env.pk)
    envs = Environment.objects.filter(pk__in=due).order_by("suffix")
    return _request_each(Deployment.Kind.TEARDOWN, envs, actor, dispatch, {"backup": True})


def reap_stale_deployments(dispatch: Dispatch, now: dt.datetime | None = None) -> dict[str, list[int]]:
    """Running deployments whose worker died (no heartbeat): re-queue once, then give up.

    The re-queued run resumes (`run_deployment` takes over a running deployment whose heartbeat
    is stale) and the engine's idempotence finishes the job without a second copy of anything.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.ENVPORT_STALE_AFTER_SECONDS)
    stale = (
        Deployment.objects.filter(status=Deployment.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        .select_related("environment")
    )
    actor = Actor.schedule("reaper")
    report: dict[str, list[int]] = {"requeued": [], "failed": []}
    for dep in stale:
        if dep.requeued_at is None:
            task_id = str(uuid.uuid4())
            claimed = Deployment.objects.filter(pk=dep.pk, requeued_at__isnull=True).update(
                requeued_at=now, celery_task_id=task_id
            )
            if claimed:
                dep.requeued_at, dep.celery_task_id = now, task_id
                audit(
                    actor,
                    "deployment.requeued",
                    dep.environment,
                    dep,
                    detail={"heartbeat_at": dep.heartbeat_at, "attempts": dep.attempts},
                )
                dispatch(dep)
                report["requeued"].append(dep.pk)
        elif dep.requeued_at < cutoff:
            error = (
                f"the worker running it was lost (no heartbeat since {dep.heartbeat_at}), and again "
                "after the re-queue; the run was abandoned. Provisioning is idempotent: "
                "request it again to finish."
            )
            with transaction.atomic():
                Deployment.objects.filter(pk=dep.pk, status=Deployment.Status.RUNNING).update(
                    status=Deployment.Status.FAILED, finished_at=now, error=error
                )
                Environment.objects.filter(
                    pk=dep.environment_id,
                    status__in=[Environment.Status.PROVISIONING, Environment.Status.TEARING_DOWN],
                ).update(status=Environment.Status.FAILED)
                audit(actor, "deployment.abandoned", dep.environment, dep, detail={"error": error})
            report["failed"].append(dep.pk)
    return report
