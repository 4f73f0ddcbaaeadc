"""What the portal does, as plain functions: the CLI, the admin and the Celery tasks all call these.

- environments: `create_environment`, `update_environment` (validated by the engine's build_spec);
- deployments: `request_deployment` (queued, one active per environment), `enqueue`,
  `cancel_deployment`, and `run_deployment` (the body of a run; see `portal.runner`);
- schedules: `scheduled_drift_all`, `scheduled_health_all`, `teardown_expired_previews`,
  `reap_stale_deployments`.
Every action by a person or a schedule leaves an AuditEvent.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from provisioning.spec import SpecError

from .models import ACTIVE_STATUSES, AuditEvent, Deployment, Environment
from .runner import jsonable, run_deployment

log = logging.getLogger("portal.actions")

__all__ = [
    "ActionError",
    "Actor",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "audit",
    "cancel_deployment",
    "create_environment",
    "enqueue",
    "get_environment",
    "lift_protection",
    "reap_stale_deployments",
    "request_deployment",
    "reveal_api_key",
    "run_deployment",
    "scheduled_drift_all",
    "scheduled_health_all",
    "teardown_expired_previews",
    "update_environment",
]


class ActionError(Exception):
    """Refused before anything ran; `problems` lists every reason (the CLI exits 2)."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems) or [message]


class InvalidInput(ActionError):
    pass


class NotFound(ActionError):
    pass


class Conflict(ActionError):
    """A queued or running deployment already holds the environment."""

    def __init__(self, message: str, running: Deployment | None = None) -> None:
        super().__init__(message)
        self.running = running


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (admin UI or CLI), or a schedule; and from where."""

    source: str  # ui / cli / schedule (AuditEvent.Source)
    user: Any = None
    label: str = ""
    remote_addr: str | None = None

    @classmethod
    def cli(cls, user: Any = None) -> Actor:
        try:
            who = getpass.getuser()
        except Exception:  # no login name in some containers
            who = "unknown"
        return cls("cli", user, f"cli:{who}")

    @classmethod
    def schedule(cls, task: str) -> Actor:
        return cls("schedule", None, f"schedule:{task}")

    @property
    def name(self) -> str:
        if self.user is not None:
            return self.user.get_username()
        return self.label or self.source

    @property
    def trigger(self) -> str:
        return {"ui": "user", "cli": "cli", "schedule": "schedule"}[self.source]


def audit(
    actor: Actor,
    action: str,
    environment: Environment | None = None,
    deployment: Deployment | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        who=actor.user,
        actor=actor.name[:150],
        source=actor.source,
        action=action,
        environment=environment,
        environment_suffix=environment.suffix if environment else "",
        deployment=deployment,
        detail=jsonable(dict(detail or {})),
        remote_addr=actor.remote_addr,
    )


# --- environments --------------------------------------------------------------------------
UPDATABLE = (
    "stage",
    "region",
    "owner",
    "cost_centre",
    "alarm_emails",
    "expires_at",
    "role_arn",
    "external_id",
    "desired_state",
)
# Changing these renames or moves resources: only while nothing is provisioned.
PLACEMENT = ("stage", "region")
# The statuses in which an environment has no resources (placement may change, the record may go).
UNPROVISIONED = (Environment.Status.NEW, Environment.Status.TORN_DOWN)


def get_environment(suffix: str) -> Environment:
    try:
        return Environment.objects.select_related("last_deployment").get(suffix=suffix)
    except Environment.DoesNotExist:
        raise NotFound(
            f"unknown environment {suffix!r}; `manage.py env list` shows the environments"
        ) from None


def problems_of(exc: ValidationError) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    lines = []
    for field, messages in exc.message_dict.items():
        for message in messages:
            lines.append(message if field == NON_FIELD_ERRORS else f"{field}: {message}")
    return lines


def _validate(env: Environment) -> None:
    try:
        env.full_clean()
    except ValidationError as exc:
        raise InvalidInput(f"invalid environment {env.suffix!r}", problems_of(exc)) from None


def create_environment(
    actor: Actor,
    *,
    suffix: str,
    stage: str,
    region: str = "us-east-1",
    owner: str = "",
    cost_centre: str = "",
    alarm_emails: Iterable[str] = (),
    overrides: Mapping[str, Any] | None = None,
    expires_at: dt.datetime | None = None,
    role_arn: str = "",
    external_id: str = "",
) -> Environment:
    env = Environment(
        suffix=suffix,
        stage=stage,
        region=region,
        owner=owner,
        cost_centre=cost_centre,
        alarm_emails=list(alarm_emails),
        overrides=dict(overrides or {}),
        expires_at=expires_at,
        role_arn=role_arn,
        external_id=external_id,
        created_by=actor.user,
        updated_by=actor.user,
    )
    _validate(env)
    try:
        with transaction.atomic():
            env.save()
            audit(
                actor,
                "environment.created",
                env,
                detail={"stage": stage, "region": region, "overrides": env.overrides},
            )
    except IntegrityError:
        raise InvalidInput(f"environment {suffix!r} already exists") from None
    return env


def update_environment(
    actor: Actor,
    env: Environment,
    *,
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Environment:
    """Change fields and overrides; an override set to None or "" goes back to the stage default."""
    unknown = sorted(set(fields) - set(UPDATABLE))
    if unknown:
        raise InvalidInput(
            "cannot update " + ", ".join(unknown), [f"{name}: cannot be changed" for name in unknown]
        )
    provisioned = env.status not in UNPROVISIONED
    moved = [n for n in PLACEMENT if n in fields and fields[n] != getattr(env, n)]
    if moved and provisioned:
        raise InvalidInput(
            f"environment {env.suffix} is provisioned",
            [f"{n}: tear the environment down before changing it" for n in moved],
        )
    before = {name: getattr(env, name) for name in (*UPDATABLE, "overrides")}
    merged = dict(env.overrides or {})
    for key, value in (overrides or {}).items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    for name, value in fields.items():
        setattr(env, name, value)
    env.overrides = merged
    env.updated_by = actor.user
    try:
        _validate(env)
    except InvalidInput:
        env.refresh_from_db()
        raise
    changed = {n: [before[n], getattr(env, n)] for n in before if before[n] != getattr(env, n)}
    with transaction.atomic():
        env.save()
        audit(actor, "environment.updated", env, detail={"changed": changed})
    return env


def lift_protection(actor: Actor, env: Environment) -> Environment:
    """Turn deletion protection off (an override), so that a teardown is accepted; audited twice:
    as the change it is, and as `environment.protection_lifted` so that it is easy to find."""
    if not env.protected:
        raise InvalidInput(f"environment {env.suffix} has no deletion protection to lift")
    env = update_environment(actor, env, overrides={"deletion_protection": False})
    audit(actor, "environment.protection_lifted", env, detail={"stage": env.stage})
    return env


def reveal_api_key(actor: Actor, env: Environment) -> str:
    """The API key's value, read from AWS now (R-ENV-4: it is never stored); every reveal is audited."""
    from provisioning.aws import AwsClients

    from .targets import target_for

    key_id = (env.outputs or {}).get("api_key_id")
    if not key_id:
        raise InvalidInput(f"environment {env.suffix} has no API key yet; provision it first")
    try:
        clients = AwsClients(target_for(env.region, env.role_arn, env.external_id))
        value = clients.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    except Exception as exc:
        raise ActionError(f"could not read API key {key_id} from AWS: {type(exc).__name__}: {exc}") from None
    audit(actor, "environment.api_key_revealed", env, detail={"api_key_id": key_id})
    return str(value)


# --- deployments ---------------------------------------------------------------------------
def _describe_active(dep: Deployment) -> str:
    who = dep.requested_by.get_username() if dep.requested_by else dep.trigger
    when = dep.created_at.strftime("%Y-%m-%d %H:%M:%S UTC") if dep.created_at else "just now"
    return f"deployment #{dep.pk} ({dep.kind}, {dep.status}, requested by {who} at {when})"


def request_deployment(
    actor: Actor, env: Environment, kind: str, options: Mapping[str, Any] | None = None
) -> Deployment:
    """A queued Deployment with the spec snapshot; refused while another one is queued or running."""
    if kind not in Deployment.Kind.values:
        raise InvalidInput(
            f"unknown deployment kind {kind!r}", [f"kind: one of {', '.join(Deployment.Kind.values)}"]
        )
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
    )
    updates: dict[str, Any] = {"last_deployment": dep}
    if kind == Deployment.Kind.PROVISION:
        updates["desired_state"] = Environment.DesiredState.PRESENT
    elif kind == Deployment.Kind.TEARDOWN:
        updates["desired_state"] = Environment.DesiredState.ABSENT
    try:
        with transaction.atomic():
            dep.save()
            Environment.objects.filter(pk=env.pk).update(**updates)
            audit(actor, f"deployment.requested.{kind}", env, dep, detail={"options": dep.options})
    except IntegrityError:
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


def enqueue(dep: Deployment) -> None:
    """Send the run to a Celery worker once the request is committed (a worker must see the row)."""
    from .tasks import run_deployment_task

    pk, task_id = dep.pk, dep.celery_task_id or str(uuid.uuid4())

    def send() -> None:
        try:
            run_deployment_task.apply_async(args=[pk], task_id=task_id)
        except Exception as exc:  # the broker is unreachable: do not leave the environment held
            log.error("deployment %s could not be sent to the broker: %s", pk, exc)
            Deployment.objects.filter(pk=pk, status=Deployment.Status.QUEUED).update(
                status=Deployment.Status.CANCELLED,
                finished_at=timezone.now(),
                error=f"could not send the run to the Celery broker ({type(exc).__name__}: {exc}); "
                "start the broker, or run it with --inline",
            )

    transaction.on_commit(send)


def cancel_deployment(actor: Actor, dep: Deployment) -> Deployment:
    """Only a queued deployment can be cancelled; a running one finishes its steps."""
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


# --- schedules -----------------------------------------------------------------------------
Dispatch = Callable[[Deployment], None]


def _request_each(
    kind: str,
    envs: QuerySet[Environment],
    actor: Actor,
    dispatch: Dispatch,
    options: Mapping[str, Any] | None = None,
) -> list[Deployment]:
    started = []
    for env in envs:
        try:
            dep = request_deployment(actor, env, kind, options)
        except ActionError as exc:
            log.info("scheduled %s of %s skipped: %s", kind, env.suffix, exc)
            continue
        dispatch(dep)
        started.append(dep)
    return started


def provisioned() -> QuerySet[Environment]:
    return Environment.objects.filter(
        status=Environment.Status.READY, desired_state=Environment.DesiredState.PRESENT
    )


def scheduled_drift_all(dispatch: Dispatch = enqueue) -> list[Deployment]:
    """R-OPS-2: a drift check of every provisioned environment."""
    return _request_each(Deployment.Kind.DRIFT, provisioned(), Actor.schedule("drift"), dispatch)


def scheduled_health_all(dispatch: Dispatch = enqueue) -> list[Deployment]:
    """R-OPS-3: alarm states and a light request against every provisioned environment."""
    return _request_each(Deployment.Kind.HEALTH, provisioned(), Actor.schedule("health"), dispatch)


def teardown_expired_previews(
    dispatch: Dispatch = enqueue, now: dt.datetime | None = None
) -> list[Deployment]:
    """R-OPS-5: tear down environments past their expiry (with a backup of a table holding items).

    A protected environment is refused by the engine (a failed teardown records why); it is not
    retried every hour unless the environment changed since (someone lifted the protection).
    """
    now = now or timezone.now()
    expired = (
        Environment.objects.filter(expires_at__lte=now)
        .exclude(status__in=[Environment.Status.TORN_DOWN, Environment.Status.TEARING_DOWN])
        .select_related("last_deployment")
    )
    due = []
    for env in expired:
        last = env.last_deployment
        refused_already = (
            last is not None
            and last.kind == Deployment.Kind.TEARDOWN
            and last.status == Deployment.Status.FAILED
            and env.updated_at < last.created_at
        )
        if not refused_already:
            due.append(env.pk)
    envs = Environment.objects.filter(pk__in=due).order_by("suffix")
    return _request_each(Deployment.Kind.TEARDOWN, envs, Actor.schedule("expiry"), dispatch, {"backup": True})


def reap_stale_deployments(
    dispatch: Dispatch = enqueue, now: dt.datetime | None = None
) -> dict[str, list[int]]:
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
