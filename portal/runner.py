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

import base64
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from provisioning import release as releases
from provisioning import restore as restores
from provisioning.artifacts import (
    artifact_from_bytes,
    artifact_location,
    default_artifact,
    set_referenced,
    upload_artifact,
)
from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.checks import Check
from provisioning.engine import UNUSED_RESOURCE, DestroyRefused, Engine, RunResult, StepEvent, unused_line
from provisioning.health import HealthReport, check_health
from provisioning.spec import EnvironmentSpec, spec_from_dict
from provisioning.verify import VerifyReport, verify

from . import fleet_limits
from .models import RESULTS, Artifact, CheckResult, Deployment, DriftFinding, Environment, Step
from .notifications import events as notifications
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


def run_release(
    spec: EnvironmentSpec,
    clients: AwsClients,
    code: releases.CodeRef,
    strategy: releases.Strategy,
    state: releases.ReleaseState | None,
    on_event: releases.EventSink,
    restore: releases.CodeRef,
) -> releases.ReleaseResult:
    """R-REL-2..5: publish, verify the version, move traffic while watching; resumable from `state`.
    `restore` is what `$LATEST` returns to if the release does not promote."""
    return releases.release(
        spec,
        clients,
        code,
        strategy,
        state,
        on_event=on_event,
        restore=restore,
        poll_s=settings.ENVPORT_RELEASE_POLL_SECONDS,
    )


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
        self.outcome = ""  # a release's or rollback's end: promoted, rolled_back, unchanged, failed
        # Which account and role the run worked as (`AwsClients.identity`): stored in its outputs.
        self.identity: dict[str, str | None] | None = None
        self.result = ""  # what the run found or did, where its kind has one (models.RESULTS)
        self.unused: list[StepEvent] = []  # the unused modes' resources found absent (Step.unused)
        self.started_env_status: str | None = _STARTED_ENV_STATUS.get(dep.kind)

    # graph.run calls back on the thread that called it, never from its pool: the run's own
    # database connection, and no lock needed for `position`.
    def on_event(self, event: StepEvent) -> None:
        if self.started_env_status is not None:
            Environment.objects.filter(pk=self.dep.environment_id).update(status=self.started_env_status)
            self.started_env_status = None
        if event.phase != "finished":
            return
        if event.unused:  # one line for them all, written with the run's result (absorb)
            self.unused.append(event)
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
            detail=event.detail,
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
        self.write_unused()
        if not result.ok:
            self.fail(result.error or f"{result.operation} failed")

    def write_unused(self) -> None:
        """The resources of modes the environment does not use, found absent: one step."""
        if not self.unused:
            return
        events, self.unused = self.unused, []
        self.position += 1
        step = Step.objects.create(
            deployment_id=self.dep.pk,
            position=self.position,
            resource=UNUSED_RESOURCE,
            kind="",
            action="no-op",
            status="succeeded",
            started_offset_s=round(min(e.started for e in events), 4),
            seconds=round(
                max(e.started + (e.seconds or 0.0) for e in events) - min(e.started for e in events), 4
            ),
            calls=sum(e.calls for e in events),
            detail=unused_line([e.resource for e in events]),
        )
        if self.progress is not None:
            self.progress(step)

    def add_report(self, report: Report) -> None:
        """Store a verification's or a health check's checks, and count its AWS calls."""
        self.checks.extend(self.check_rows(report.checks, start=len(self.checks)))
        self.calls += report.calls

    def check_rows(self, checks: Iterable[Check], start: int) -> list[CheckResult]:
        return [
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
                request_id=check.request_id,
            )
            for i, check in enumerate(checks, start=start + 1)
        ]

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
    # Differences found are what the check is for, not a failure of it: the run succeeded with
    # result drift_found (amber, not red); it fails only when a step could not read.
    if run.findings:
        run.result = "drift_found"
        run.env_updates.update(drift_state=Environment.Drift.DRIFTED, drift_checked_at=now)
    elif result.ok:
        run.result = "clean"
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
            table_name="",  # the tables a restore made went with it (Engine.destroy)
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


class _PhaseEvents:
    """What a release's and a restore's events record alike: the state (what a resumed run picks up
    from) with a heartbeat, the checks, and a Step per phase, shown to the run's progress."""

    def __init__(self, run: _Run) -> None:
        self.run, self.t0 = run, time.monotonic()
        self.checks = run.dep.checks.count()

    def save_state(self, state: Any) -> None:
        Deployment.objects.filter(pk=self.run.dep.pk).update(
            release_state=jsonable(state.to_dict()), heartbeat_at=timezone.now()
        )

    def record_checks(self, checks: tuple[Check, ...]) -> None:
        """The event's checks at once; the next step's position."""
        if checks:
            CheckResult.objects.bulk_create(self.run.check_rows(checks, start=self.checks))
            self.checks += len(checks)
        self.run.position += 1

    def add_step(self, phase: str, **fields: Any) -> None:
        run = self.run
        step = Step.objects.create(
            deployment_id=run.dep.pk, position=run.position, action=phase[:16], **fields
        )
        if run.progress is not None:
            run.progress(step)


class _ReleaseEvents(_PhaseEvents):
    """A release's events as they happen: its state (what a resumed run picks up from) and a
    heartbeat on the Deployment, a Step per phase or traffic change, its checks at once, so the
    console follows the bake live and a worker's death loses nothing that was decided."""

    def __init__(self, run: _Run, clients: AwsClients) -> None:
        super().__init__(run)
        self.last_percent: int | None = None
        # Each step is the work since the one before: its seconds and its AWS calls (issue 23:
        # the release timeline read "0.00 s, 0 AWS calls" for every step of a 43-call run).
        self.recorder = clients.recorder
        self.last_at, self.last_calls = self.t0, self.recorder.snapshot()

    def __call__(self, event: releases.ReleaseEvent) -> None:
        state = event.state
        failed = any(not c.passed for c in event.checks)
        self.save_state(state)
        self.record_checks(event.checks)
        now, snapshot = time.monotonic(), self.recorder.snapshot()
        began, calls = self.last_at, snapshot.total - self.last_calls.total
        self.last_at, self.last_calls = now, snapshot
        diffs = []
        if state.percent != self.last_percent:
            field = "traffic on the new version (%)"
            diffs = [{"field": field, "found": self.last_percent, "wanted": state.percent}]
            self.last_percent = state.percent
        self.add_step(
            state.phase,
            resource="live alias",
            kind="lambda-alias",
            status="failed" if failed or state.phase == releases.FAILED else "succeeded",
            started_offset_s=round(began - self.t0, 4),
            seconds=round(now - began, 4),
            calls=calls,
            diffs=jsonable(diffs),
            detail=event.message,
        )


def _code_ref(clients: AwsClients, sha256: str) -> releases.CodeRef:
    """The artifact in the target account's bucket: uploaded from the portal's copy unless there."""
    record = Artifact.objects.get(sha256=sha256)
    built = artifact_from_bytes(
        bytes(record.data),
        handler=record.handler,
        source=record.source,
        runtime=record.runtime,
        architecture=record.architecture,
    )
    location = upload_artifact(clients, built)
    return releases.CodeRef(location.bucket, location.key, record.sha256, record.handler)


def _serving_code(spec: EnvironmentSpec, clients: AwsClients) -> releases.CodeRef:
    """The code the environment serves before the release: its released artifact, or lambda_bundle/
    (which every provision uploads), in the account's artifact bucket."""
    if spec.artifact_sha256:
        sha256, handler = spec.artifact_sha256, spec.function_handler
    else:
        bundle = default_artifact()
        sha256, handler = bundle.sha256, bundle.handler
    location = artifact_location(clients, sha256)
    return releases.CodeRef(location.bucket, location.key, sha256, handler)


def _release(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    dep = run.dep
    code = _code_ref(clients, dep.artifact_sha256)
    strategy = releases.Strategy(**dep.options["strategy"])
    state = releases.ReleaseState.from_dict(dep.release_state) if dep.release_state else None
    restore = _serving_code(spec, clients)
    result = run_release(spec, clients, code, strategy, state, _ReleaseEvents(run, clients), restore)
    _absorb_release(run, result)
    if result.outcome == releases.PROMOTED:
        run.env_updates.update(artifact_sha256=code.sha256_hex, handler=code.handler)
        _serving_version(run, result.to_version)
        _references(run, clients, serving=code.sha256_hex, before=restore.sha256_hex)


def _rollback(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    """Move the alias back, then make the environment's record and `$LATEST` follow what serves:
    its artifact (or lambda_bundle/) becomes the one a later provision deploys."""
    result = releases.rollback(
        spec, clients, run.dep.options.get("to_version"), on_event=_ReleaseEvents(run, clients)
    )
    _absorb_release(run, result)
    before = clients.recorder.snapshot()
    serving = releases.serving(spec, clients)
    code = _code_of(clients, serving.code_sha256)
    if code is None:
        run.fail(
            f"version {serving.version} serves code {serving.code_sha256} that the portal has no artifact "
            "for; $LATEST and the environment's record were left as they were"
        )
    else:
        releases.align_latest(spec, clients, code)
        bundle = code.sha256_hex == default_artifact().sha256
        run.env_updates.update(
            artifact_sha256="" if bundle else code.sha256_hex, handler="" if bundle else code.handler
        )
        _references(run, clients, serving=code.sha256_hex, before=spec.artifact_sha256 or "")
    _serving_version(run, serving.version)
    run.calls += clients.recorder.since(before)


def _references(run: _Run, clients: AwsClients, *, serving: str, before: str) -> None:
    """Keep the artifact bucket's lifecycle honest (R-REL-1): what serves is referenced; what
    served before and no other environment of the portal serves is not, and S3 expires it after
    the grace period. lambda_bundle/ is rebuilt by every provision and is never let go.

    A failure here does not undo the release: it is noted, and the next release tries again."""
    bundle = default_artifact().sha256
    mark = {serving: True}
    others = Environment.objects.exclude(pk=run.dep.environment_id)
    if before and before != serving and not others.filter(artifact_sha256=before).exists():
        mark[before] = False
    before_calls = clients.recorder.snapshot()
    for sha256, referenced in mark.items():
        if sha256 == bundle:
            continue
        try:
            set_referenced(clients, sha256, referenced)
        except Exception as exc:
            log.warning("artifact %s not marked referenced=%s: %s", sha256, referenced, exc)
            run.outputs.setdefault("notes", []).append(f"artifact {sha256[:12]} not re-tagged: {exc}")
    run.calls += clients.recorder.since(before_calls)


def _serving_version(run: _Run, version: str | None) -> None:
    """The environment's outputs name the version its alias serves (R-ENV-4 style)."""
    if version is not None:
        outputs = dict(run.dep.environment.outputs or {})
        outputs["serving_version"] = version
        run.env_updates["outputs"] = jsonable(public_outputs(outputs))


def _code_of(clients: AwsClients, lambda_sha256: str | None) -> releases.CodeRef | None:
    """The artifact whose zip Lambda reports as `lambda_sha256` (the same digest, base64): one the
    portal recorded, or lambda_bundle/ (which has no record). One indexed query, no scan."""
    try:
        sha256 = base64.b64decode(lambda_sha256 or "", validate=True).hex()
    except ValueError:
        return None
    bundle = default_artifact()
    if sha256 == bundle.sha256:
        handler = bundle.handler
    else:
        record = Artifact.objects.filter(sha256=sha256).only("handler").first()
        if record is None:
            return None
        handler = record.handler
    location = artifact_location(clients, sha256)
    return releases.CodeRef(location.bucket, location.key, sha256, handler)


def _absorb_release(run: _Run, result: releases.ReleaseResult) -> None:
    run.calls += result.calls
    run.outcome = result.outcome
    run.result = result.outcome if result.outcome in RESULTS[run.dep.kind] else ""
    run.outputs = jsonable(
        {
            "artifact_sha256": result.code_sha256,
            "from_version": result.from_version,
            "to_version": result.to_version,
            "traffic": result.traffic,
            "rollback_reason": result.reason,
            "deleted_versions": result.deleted_versions,
            "notified": result.notified,
        }
    )
    if not result.ok:
        run.fail(result.error or result.reason or f"{result.operation} {result.outcome}")


class _RestoreEvents(_PhaseEvents):
    """A restore's phases as they happen: its state (what a resumed run picks up from), a Step per
    phase, its checks, and the environment's current table as soon as the alias has moved."""

    def __init__(self, run: _Run) -> None:
        super().__init__(run)
        self.recorded_table: str | None = None

    def __call__(self, event: restores.RestoreEvent) -> None:
        state = event.state
        self.save_state(state)
        if state.reached(restores.SWITCHED) and self.recorded_table != state.new_table:
            record_table(self.run, state.new_table)
            self.recorded_table = state.new_table
        self.record_checks(event.checks)
        self.add_step(
            state.phase,
            resource="table",
            kind="dynamodb-table",
            status="failed" if state.phase == restores.FAILED else "succeeded",
            started_offset_s=round(time.monotonic() - self.t0, 4),
            seconds=0.0,
            detail=event.message[:4000],
        )


def record_table(run: _Run, table: str) -> None:
    """The environment serves from `table` now: recorded at once (a worker that dies after the
    alias moved must not leave the portal pointing at the old table)."""
    env = run.dep.environment
    current = "" if table == env.spec().names.base_table else table
    outputs = dict(env.outputs or {})
    outputs["table_name"] = table
    Environment.objects.filter(pk=env.pk).update(table_name=current, outputs=jsonable(outputs))
    run.env_updates.update(table_name=current, outputs=jsonable(outputs))


def _restore(run: _Run, spec: EnvironmentSpec, target: AwsTarget, clients: AwsClients) -> None:
    """Restore, undo or clone (issue 20): the engine's cut-over, resumable from the run's state."""
    dep = run.dep
    request = restores.RestoreRequest.from_dict(dep.options["request"])
    state = restores.RestoreState.from_dict(dep.release_state) if dep.release_state else None
    result = restores.restore(spec, clients, request, state, on_event=_RestoreEvents(run))
    run.calls += result.calls
    run.outputs = jsonable({k: v for k, v in result.to_dict().items() if k not in ("checks", "calls")})
    # a restore that failed has no result of its own: its status says so, and the live table served on
    done = "undone" if request.operation == restores.UNDO else "cut_over"
    run.result = done if result.outcome == restores.DONE else ""
    if not result.ok:
        run.fail(result.state.reason or result.error or f"{request.operation} failed")


RUNNERS: dict[str, Callable[[_Run, EnvironmentSpec, AwsTarget, AwsClients], None]] = {
    Kind.PLAN: _plan,
    Kind.PROVISION: _provision,
    Kind.VERIFY: _verify,
    Kind.DRIFT: _drift,
    Kind.HEALTH: _health,
    Kind.TEARDOWN: _teardown,
    Kind.RELEASE: _release,
    Kind.ROLLBACK: _rollback,
    Kind.RESTORE: _restore,
}


RELEASE_KINDS = (Kind.RELEASE, Kind.ROLLBACK)


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
    resumed_release = dep.attempts > 1 and dep.kind in (*RELEASE_KINDS, Kind.RESTORE)
    if dep.attempts > 1 and not resumed_release:  # resumed after a lost worker: its record is replaced
        log.warning("deployment %s resumed (attempt %s)", dep.pk, dep.attempts)
        dep.steps.all().delete()
        dep.checks.all().delete()
        dep.findings.all().delete()
    run = _Run(dep, progress)
    if resumed_release:  # a release goes on from its recorded state: what it did stays on record
        log.warning("release %s resumed from %s (attempt %s)", dep.pk, dep.release_state, dep.attempts)
        run.position = dep.steps.count()
    try:
        spec = spec_from_dict(dep.spec_snapshot)
        env = dep.environment
        target = target_for(spec.region, env.role_arn, env.external_id)
        clients = AwsClients(
            target,
            limiter=fleet_limits.limiter(),
            priority=fleet_limits.priority_of(dep),
            shared=fleet_limits.shared_reads(dep),
            waiter=fleet_limits.waiter_of(dep),
        )
        try:
            with _Heartbeat(dep.pk, settings.ENVPORT_HEARTBEAT_SECONDS):
                RUNNERS[dep.kind](run, spec, target, clients)
        finally:
            run.identity = clients.identity()
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
            outputs=jsonable({**run.outputs, "identity": run.identity} if run.identity else run.outputs),
            error="\n".join(run.errors),
            outcome=run.outcome or (releases.FAILED if dep.kind in RELEASE_KINDS and not run.ok else ""),
            result=run.result,
        )
        if run.env_updates:
            Environment.objects.filter(pk=dep.environment_id).update(**run.env_updates)
    env_before = dep.environment
    dep.refresh_from_db()
    notifications.run_finished(dep, env_before, run.env_updates)  # sent after commit, by a task
    return dep
