"""The body of one run: what a Celery worker (or `--inline`) executes for a Deployment.

`run_deployment(id)` claims the deployment (queued, or running with a stale heartbeat: a worker
died and the task came back), rebuilds the spec from the snapshot, runs the engine with a
callback that writes each Step as it finishes, then stores the outcome on the Deployment and the
Environment. A resumed run replaces the Steps of the lost one; the engine's idempotence finishes
the job. Writes: one INSERT per Step (so the console can follow it), an UPDATE of the
Environment's status when the first step of a provision or teardown starts, a heartbeat UPDATE at
most every 2 s between steps (besides `_Heartbeat`'s), bulk INSERTs for checks and findings, and
one UPDATE each for the Deployment and the Environment at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.engine import DestroyRefused, Engine, RunResult, StepEvent
from provisioning.health import HealthReport, check_health
from provisioning.spec import EnvironmentSpec, spec_from_dict
from provisioning.verify import VerifyReport, verify

from .models import CheckResult, Deployment, DriftFinding, Environment, Step
from .targets import target_for

log = logging.getLogger("portal.runner")

Kind = Deployment.Kind
Status = Deployment.Status
EnvStatus = Environment.Status

# Output keys that could hold a secret are never stored (R-ENV-4: the API key's id, not its value).
_SECRET_MARKERS = ("key_value", "keyvalue", "secret", "password", "token")
_SECRET_KEYS = {"api_key", "apikey", "value", "key"}


def public_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in outputs.items()
        if k.lower() not in _SECRET_KEYS and not any(m in k.lower() for m in _SECRET_MARKERS)
    }


def jsonable(value: Any) -> Any:
    """A JSON-ready copy (tuples to lists, sets and datetimes to text)."""

    def default(obj: Any) -> Any:
        if isinstance(obj, (set, frozenset)):
            return sorted(obj, key=str)
        return str(obj)

    return json.loads(json.dumps(value, default=default))


# --- the engine and the checks: module-level so that tests can replace them ---------------------
def make_engine(
    spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients, on_event: Callable[[StepEvent], None]
) -> Engine:
    return Engine(spec, target, clients=clients, on_event=on_event, workers=settings.ENVPORT_ENGINE_WORKERS)


def run_verify(spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> VerifyReport:
    """R-VER-1..4: the CRUD journey over HTTP and the live configuration comparison."""
    return verify(spec, target, clients=clients)


def run_health(spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> HealthReport:
    """R-OPS-3: alarm states and a light request."""
    return check_health(spec, target, clients=clients)


# A report whose checks and calls a run stores: verification's and health's share both shapes.
Report = VerifyReport | HealthReport


# --- recording ----------------------------------------------------------------------------------
class _Heartbeat:
    """Touches `heartbeat_at` every `interval` seconds from its own thread while a run is going, so a
    long step is not mistaken for a dead worker. It uses (and closes) its own database connection."""

    def __init__(self, pk: int, interval: float) -> None:
        self.pk, self.interval = pk, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{pk}", daemon=True)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    Deployment.objects.filter(pk=self.pk, status=Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception as exc:  # a busy database must not kill the run
                    log.warning("heartbeat of deployment %s not written: %s", self.pk, exc)
        finally:
            connection.close()

    def __enter__(self) -> _Heartbeat:
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


# The environment's status while the first step of a provision or teardown runs.
_STARTED_ENV_STATUS: dict[str, str] = {
    Kind.PROVISION: EnvStatus.PROVISIONING,
    Kind.TEARDOWN: EnvStatus.TEARING_DOWN,
}


class _Run:
    """What one run collects on its way; saved by `finish`."""

    def __init__(self, dep: Deployment, progress: Callable[[Step], None] | None) -> None:
        self.dep = dep
        self.progress = progress
        self.position = 0
        self.last_beat = time.monotonic()
        self.ok = True
        self.errors: list[str] = []
        self.outputs: dict[str, Any] = {}
        self.calls = CallCounts()
        self.checks: list[CheckResult] = []
        self.findings: list[DriftFinding] = []
        self.env_updates: dict[str, Any] = {}
        self.started_env_status: str | None = _STARTED_ENV_STATUS.get(dep.kind)

    # graph.run calls back on the thread that called it, never from its pool: the run's own
    # database connection, and no lock needed for `position`.
    def on_event(self, event: StepEvent) -> None:
        if self.started_env_status is not None:
            Environment.objects.filter(pk=self.dep.environment_id).update(status=self.started_env_status)
            self.started_env_status = None
        if event.phase != "finished":
            return
        self.position += 1
        step = Step.objects.create(
            deployment_id=self.dep.pk,
            position=self.position,
            resource=event.resource,
            kind=event.kind,
            action=event.action or "",
            status=event.status or "",
            started_offset_s=round(event.started, 4),
            seconds=round(event.seconds or 0.0, 4),
            calls=event.calls,
            diffs=jsonable([d.to_dict() for d in event.diffs]),
            error=event.error or "",
        )
        if time.monotonic() - self.last_beat >= 2.0:
            Deployment.objects.filter(pk=self.dep.pk).update(heartbeat_at=timezone.now())
            self.last_beat = time.monotonic()
        if self.progress is not None:
            self.progress(step)

    def fail(self, message: str) -> None:
        self.ok = False
        self.errors.append(message)

    def absorb(self, result: RunResult) -> None:
        self.calls += result.calls
        if not result.ok:
            self.fail(result.error or f"{result.operation} failed")

    def add_report(self, report: Report) -> None:
        """Store a verification's or a health check's checks, and count its AWS calls."""
        start = len(self.checks)
        for i, check in enumerate(report.checks, start=start + 1):
            self.checks.append(
                CheckResult(
                    deployment_id=self.dep.pk,
                    position=i,
                    name=check.name[:200],
                    requirement=check.requirement[:32],
                    passed=check.passed,
                    http_status=check.status,
                    latency_ms=check.latency_ms,
                    expected=check.expected,
                    found=check.found,
                )
            )
        self.calls += report.calls

    def add_findings(self, result: RunResult) -> None:
        for diff in result.findings:
            self.findings.append(
                DriftFinding(
                    deployment_id=self.dep.pk,
                    environment_id=self.dep.environment_id,
                    resource=diff.resource,
                    field=str(diff.field)[:256],
                    wanted=jsonable(diff.wanted),
                    found=jsonable(diff.found),
                )
            )


# --- one function per kind ----------------------------------------------------------------------
def _plan(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    run.absorb(make_engine(spec, target, clients, run.on_event).plan())


def _provision(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    result = make_engine(spec, target, clients, run.on_event).apply()
    run.absorb(result)
    run.outputs = public_outputs(result.outputs)
    now = timezone.now()
    env_outputs = dict(run.dep.environment.outputs or {})
    env_outputs.update(run.outputs)
    run.env_updates.update(outputs=jsonable(public_outputs(env_outputs)))
    # The status says whether the resources are in place; a failed verification fails the
    # deployment (and shows in its checks) but leaves the environment watched by drift and health.
    run.env_updates["status"] = EnvStatus.READY if result.ok else EnvStatus.FAILED
    if result.ok:
        run.env_updates.update(drift_state=Environment.Drift.CLEAN, drift_checked_at=now)
        if run.dep.options.get("verify", True) is not False:
            _verify(run, spec, target, clients)


def _verify(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    report = run_verify(spec, target, clients)
    run.add_report(report)
    if not report.ok:
        failed = [c.name for c in report.checks if not c.passed]
        run.fail(f"verification failed: {len(failed)} of {len(report.checks)} checks: " + ", ".join(failed))


def _drift(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    result = make_engine(spec, target, clients, run.on_event).drift()
    run.absorb(result)
    run.add_findings(result)
    now = timezone.now()
    if run.findings:
        resources = sorted({f.resource for f in run.findings})
        run.fail(
            f"drift: {len(run.findings)} difference(s) in {', '.join(resources)}; a provision run repairs it"
        )
        run.env_updates.update(drift_state=Environment.Drift.DRIFTED, drift_checked_at=now)
    elif result.ok:
        run.env_updates.update(drift_state=Environment.Drift.CLEAN, drift_checked_at=now)


def _health(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    report = run_health(spec, target, clients)
    run.add_report(report)
    run.env_updates.update(
        health=report.status, health_checked_at=timezone.now(), health_detail=report.detail or ""
    )
    if report.status != Environment.Health.HEALTHY:
        run.fail(f"{report.status}: {report.detail}")


def _teardown(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    engine = make_engine(spec, target, clients, run.on_event)
    try:
        result = engine.destroy(backup=run.dep.options.get("backup", True) is not False)
    except DestroyRefused as exc:
        run.fail(f"refused: {exc}")
        run.env_updates["desired_state"] = Environment.DesiredState.PRESENT  # nothing changed: it stays
        return
    run.absorb(result)
    run.outputs = jsonable({"notes": result.notes}) if result.notes else {}
    if result.ok:
        run.env_updates.update(
            status=EnvStatus.TORN_DOWN,
            outputs={},
            health=Environment.Health.UNKNOWN,
            health_detail="",
            health_checked_at=None,
            drift_state=Environment.Drift.UNKNOWN,
            drift_checked_at=None,
        )
    else:
        run.env_updates["status"] = EnvStatus.FAILED


RUNNERS: dict[str, Callable[[_Run, EnvironmentSpec, AwsTarget, AwsClients], None]] = {
    Kind.PLAN: _plan,
    Kind.PROVISION: _provision,
    Kind.VERIFY: _verify,
    Kind.DRIFT: _drift,
    Kind.HEALTH: _health,
    Kind.TEARDOWN: _teardown,
}


# --- the entry point ----------------------------------------------------------------------------
def _claim(deployment_id: int) -> bool:
    """Take the run: queued, or running with a stale heartbeat (its worker died). Atomic."""
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.ENVPORT_STALE_AFTER_SECONDS)
    claimable = Q(status=Status.QUEUED) | (
        Q(status=Status.RUNNING) & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff))
    )
    return bool(
        Deployment.objects.filter(pk=deployment_id)
        .filter(claimable)
        .update(
            status=Status.RUNNING,
            heartbeat_at=now,
            started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
            attempts=F("attempts") + 1,
        )
    )


def run_deployment(deployment_id: int, progress: Callable[[Step], None] | None = None) -> Deployment:
    """Run (or resume) one deployment and store its outcome; returns it, finished.

    A deployment that is finished, cancelled, or running elsewhere with a live heartbeat is left
    alone (a duplicate delivery of the task does nothing).
    """
    claimed = _claim(deployment_id)
    dep = Deployment.objects.select_related("environment").get(pk=deployment_id)
    if not claimed:
        log.info("deployment %s is %s; not run again", deployment_id, dep.status)
        return dep
    if dep.attempts > 1:  # resumed after a lost worker: its partial record is replaced
        log.warning("deployment %s resumed (attempt %s)", dep.pk, dep.attempts)
        dep.steps.all().delete()
        dep.checks.all().delete()
        dep.findings.all().delete()
    run = _Run(dep, progress)
    try:
        spec = spec_from_dict(dep.spec_snapshot)
        env = dep.environment
        target = target_for(spec.region, env.role_arn, env.external_id)
        with _Heartbeat(dep.pk, settings.ENVPORT_HEARTBEAT_SECONDS):
            RUNNERS[dep.kind](run, spec, target, AwsClients(target))
    except Exception as exc:
        log.exception("deployment %s failed", dep.pk)
        run.fail(f"{type(exc).__name__}: {exc}")
        if dep.kind in (Kind.PROVISION, Kind.TEARDOWN):
            run.env_updates.setdefault("status", EnvStatus.FAILED)
    return _finish(run)


def _finish(run: _Run) -> Deployment:
    dep = run.dep
    now = timezone.now()
    status = Status.SUCCEEDED if run.ok else Status.FAILED
    with transaction.atomic():
        if run.checks:
            CheckResult.objects.bulk_create(run.checks)
        if run.findings:
            DriftFinding.objects.bulk_create(run.findings)
        Deployment.objects.filter(pk=dep.pk).update(
            status=status,
            finished_at=now,
            heartbeat_at=now,
            calls_total=run.calls.total,
            calls_mutating=run.calls.mutating,
            calls_by_operation=dict(sorted(run.calls.by_operation.items())),
            outputs=jsonable(run.outputs),
            error="\n".join(run.errors),
        )
        if run.env_updates:
            Environment.objects.filter(pk=dep.environment_id).update(**run.env_updates)
    dep.refresh_from_db()
    return dep
