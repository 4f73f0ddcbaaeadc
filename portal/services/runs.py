"""Runs (deployments): request one (queued, one active per environment), send it to a worker with
the caller's `send`, cancel a queued one, and request again a sweep's check a person's run
superseded. `run_deployment` (the body of a run) is `portal.runner`'s, re-exported here so that
callers name runs in one place.

This module never imports `portal.tasks`: the caller passes the function that sends a run (the
tasks import the services, not the other way round). Every request asks `authz.authorize` first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from portal.models import ACTIVE_STATUSES, Deployment, Environment
from portal.runner import jsonable, run_deployment
from portal.services import authz
from portal.services.audit import audit
from portal.services.base import ActionError, Actor, Conflict, InvalidInput
from provisioning.spec import SpecError

log = logging.getLogger("portal.services.runs")

__all__ = [
    "REQUEUE_AFTER",
    "Dispatch",
    "Send",
    "cancel_deployment",
    "enqueue",
    "provisioned",
    "request_deployment",
    "requeue_superseded",
    "run_deployment",
]


# Puts a run on the broker: (deployment id, task id) -> None. `portal.tasks` has the one that
# sends its Celery task; this module never imports it (the tasks import this one).
Send = Callable[[int, str], None]


# Sends a requested deployment to a worker: `portal.tasks.enqueue` (through `portal.dispatch` for
# the web console and the CLI), or a test's or a caller's own (running it in place, say).
Dispatch = Callable[[Deployment], None]


def _describe_active(dep: Deployment) -> str:
    who = dep.requested_by.get_username() if dep.requested_by else dep.trigger
    when = dep.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if dep.created_at else "just now"
    return f"deployment #{dep.pk} ({dep.kind}, {dep.status}, requested by {who} at {when})"


def request_deployment(
    actor: Actor,
    env: Environment,
    kind: str,
    options: Mapping[str, Any] | None = None,
    *,
    artifact_sha256: str = "",
) -> Deployment:
    """A queued Deployment with the spec snapshot; refused while another one is queued or running.

    A release names the artifact it ships (`request_release` checks it and the strategy first).
    A teardown of an environment with deletion protection is refused here, before it is queued,
    whoever asks (the engine refuses it again)."""
    if kind not in Deployment.Kind.values:
        raise InvalidInput(
            f"unknown deployment kind {kind!r}", [f"kind: one of {', '.join(Deployment.Kind.values)}"]
        )
    authz.authorize(actor, kind, env)
    if kind == Deployment.Kind.TEARDOWN and env.protected:
        raise InvalidInput(
            f"{env.suffix} has deletion protection",
            [
                f"deletion_protection: {env.suffix} is protected; an admin must lift it first "
                '(the Teardown page\'s Lift protection, or overrides {"deletion_protection": false})'
            ],
        )
    if kind == Deployment.Kind.RELEASE and not artifact_sha256:
        raise InvalidInput("a release names the artifact it ships", ["artifact: see request_release"])
    try:
        spec = env.spec()
    except SpecError as exc:
        problems = [f"{p['field']}: {p['value']} is not allowed; {p['allowed']}" for p in exc.as_dicts()]
        raise InvalidInput(f"environment {env.suffix}'s definition is invalid", problems) from None
    dep = Deployment(
        environment=env,
        kind=kind,
        trigger=actor.trigger,
        requested_by=actor.user,
        options=jsonable(dict(options or {})),
        spec_snapshot=jsonable(spec.to_dict()),
        celery_task_id=str(uuid.uuid4()),
        artifact_sha256=artifact_sha256,
    )
    updates: dict[str, Any] = {"last_deployment": dep}
    if kind == Deployment.Kind.PROVISION:
        updates["desired_state"] = Environment.DesiredState.PRESENT
    elif kind == Deployment.Kind.TEARDOWN:
        updates["desired_state"] = Environment.DesiredState.ABSENT
    try:
        _save_request(actor, env, dep, updates)
    except IntegrityError:
        if actor.source != "schedule" and _supersede_queued_check(actor, env, dep):
            _save_request(actor, env, dep, updates)
            for name, value in updates.items():
                setattr(env, name, value)
            return dep
        running = (
            Deployment.objects.filter(environment=env, status__in=ACTIVE_STATUSES)
            .select_related("requested_by")
            .first()
        )
        if running is None:
            raise
        raise Conflict(
            f"environment {env.suffix} already has {_describe_active(running)}; "
            "wait for it to finish (or cancel it if it is still queued)",
            running,
        ) from None
    for name, value in updates.items():
        setattr(env, name, value)
    return dep


def _save_request(actor: Actor, env: Environment, dep: Deployment, updates: dict[str, Any]) -> None:
    with transaction.atomic():
        dep.save()
        Environment.objects.filter(pk=env.pk).update(**updates)
        audit(actor, f"deployment.requested.{dep.kind}", env, dep, detail={"options": dep.options})


def _supersede_queued_check(actor: Actor, env: Environment, dep: Deployment) -> bool:
    """A sweep's drift or health check still waiting for its turn (R-FLEET-3 spreads them over
    the interval) gives way to a person's request: cancelled, so nobody waits for a check."""
    waiting = Deployment.objects.filter(
        environment=env,
        status=Deployment.Status.QUEUED,
        trigger=Deployment.Trigger.SCHEDULE,
        kind__in=[Deployment.Kind.DRIFT, Deployment.Kind.HEALTH],
    ).first()
    if waiting is None:
        return False
    cancelled = Deployment.objects.filter(pk=waiting.pk, status=Deployment.Status.QUEUED).update(
        status=Deployment.Status.CANCELLED,
        finished_at=timezone.now(),
        error=f"superseded by a {dep.kind} requested by {actor.name}",
    )
    if cancelled:
        audit(actor, "deployment.superseded", env, waiting, detail={"by": dep.kind})
        dep.options = {**dep.options, REQUEUE_AFTER: waiting.kind}  # saved with the request
    return bool(cancelled)


# The option naming the sweep's check a person's run superseded: requested again when it finishes.
REQUEUE_AFTER = "requeue_after"


def requeue_superseded(dep: Deployment, dispatch: Dispatch) -> Deployment | None:
    """The check `dep` superseded, requested again now that `dep` has finished (issue 23: a
    schedule is not starved by people; without this the environment's health stayed unknown until
    the next sweep, minutes later). Nothing when the environment is no longer provisioned (a
    teardown), when another run holds it (that run is a person's; the next sweep checks), or when
    it was requeued already (a duplicate delivery of the finished run)."""
    kind = dep.options.get(REQUEUE_AFTER)
    if kind not in (Deployment.Kind.DRIFT, Deployment.Kind.HEALTH) or dep.active or dep.finished_at is None:
        return None
    if dep.kind == kind and dep.status == Deployment.Status.SUCCEEDED:
        return None  # the person's run was that very check
    env = provisioned().filter(pk=dep.environment_id).first()
    if env is None:
        return None
    if Deployment.objects.filter(environment=env, kind=kind, created_at__gte=dep.finished_at).exists():
        return None
    try:
        check = request_deployment(
            Actor.schedule(kind), env, kind, {"sweep": f"{kind}-{uuid.uuid4().hex[:12]}"}
        )
    except ActionError as exc:
        log.info("superseded %s of %s not requeued: %s", kind, env.suffix, exc)
        return None
    dispatch(check)
    return check


def provisioned() -> QuerySet[Environment]:
    return Environment.objects.filter(
        status=Environment.Status.READY, desired_state=Environment.DesiredState.PRESENT
    )


def enqueue(dep: Deployment, send: Send) -> None:
    """Send the run with `send` once the request is committed (a worker must see the row); if
    the broker cannot take it, cancel it with the reason rather than leave the environment held."""
    pk, task_id = dep.pk, dep.celery_task_id or str(uuid.uuid4())

    def on_commit() -> None:
        try:
            send(pk, task_id)
        except Exception as exc:  # the broker is unreachable: do not leave the environment held
            log.error("deployment %s could not be sent to the broker: %s", pk, exc)
            Deployment.objects.filter(pk=pk, status=Deployment.Status.QUEUED).update(
                status=Deployment.Status.CANCELLED,
                finished_at=timezone.now(),
                error=f"could not send the run to the Celery broker ({type(exc).__name__}: {exc}); "
                "start the broker, or run it with --inline",
            )

    transaction.on_commit(on_commit)


def cancel_deployment(actor: Actor, dep: Deployment) -> Deployment:
    """Only a queued deployment can be cancelled; a running one finishes its steps."""
    authz.authorize(actor, "cancel", dep.environment)
    done = Deployment.objects.filter(pk=dep.pk, status=Deployment.Status.QUEUED).update(
        status=Deployment.Status.CANCELLED, finished_at=timezone.now(), error=f"cancelled by {actor.name}"
    )
    if not done:
        dep.refresh_from_db()
        raise Conflict(
            f"deployment #{dep.pk} is {dep.status}; only a queued deployment can be cancelled", dep
        )
    audit(actor, "deployment.cancelled", dep.environment, dep)
    dep.refresh_from_db()
    return dep
