"""What the envport commands share: exit codes, refusals, following a run, printing it.

Exit codes: 0 the run succeeded; 1 it failed (a failed step, a failed check; a release that was
rolled back did not ship, so it failed too); 2 refused before anything ran (bad input with every
problem listed, an unknown environment, a run already going, a teardown not confirmed); 3 a drift
check succeeded and found differences (its result is drift_found). A run has a status (queued,
running, succeeded, failed, cancelled) and, where its kind has one, a result (promoted,
rolled_back, unchanged, drift_found, clean). `--json` prints exactly one JSON document on
stdout; messages and errors go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TextIO, TypeVar

from django.core.management.base import BaseCommand, OutputWrapper

from portal import dispatch
from portal.documents import deployment_document, refusal_document
from portal.models import ACTIVE_STATUSES, Deployment, Environment, Step
from portal.progress import QUEUED_HINT_S, expected_steps
from portal.services import environments
from portal.services import runs as run_service
from portal.services.base import ActionError, Actor, Forbidden, InvalidInput, NotFound

OK, RUN_FAILED, BAD_INPUT, DRIFT_FOUND = 0, 1, 2, 3
POLL_S = 0.5
PROGRESS_EVERY_S = 15.0  # a release says where it is at least this often, even mid-bake
_sleep = time.sleep  # replaced in tests
T = TypeVar("T")


class Exit(SystemExit):
    """Leave the command with an exit code (manage.py exits with it; tests catch it)."""


class StepPrinter:
    """Steps as they finish: a line each, and on a terminal a progress bar below them."""

    WIDTH = 30

    def __init__(
        self, out: OutputWrapper | TextIO, total: int | None, enabled: bool, tty: bool, prefix: str = ""
    ):
        self.out, self.total, self.enabled, self.tty, self.prefix = out, total, enabled, tty, prefix
        self.count = 0
        self.t0 = self.last_line = time.monotonic()

    def _write(self, text: str) -> None:
        self.out.write(text, ending="") if isinstance(self.out, OutputWrapper) else self.out.write(text)
        self.out.flush()

    def step(self, step: Step) -> None:
        self.count += 1
        self.last_line = time.monotonic()
        if not self.enabled:
            return
        mark = {"succeeded": "ok  ", "failed": "FAIL", "skipped": "skip"}.get(step.status, step.status[:4])
        if step.detail:  # a release's phase or traffic change: what happened says more than timings
            line = f"{self.prefix}{mark} {step.action:<11} {step.detail[:160]}"
        else:
            line = (
                f"{self.prefix}{mark} {step.resource:<26} {step.action:<8} {step.seconds:7.2f} s "
                f"{plural(step.calls, 'call'):>10}"
            )
        if step.error:
            line += f"  {step.error.splitlines()[0][:160]}"
        if self.tty:
            self._write("\r\033[K" + line + "\n" + self._bar())
        else:
            self._write(line + "\n")

    def _bar(self) -> str:
        elapsed = time.monotonic() - self.t0
        if not self.total:
            return f"{self.prefix}{self.count} steps, {elapsed:.1f} s"
        done = min(self.count, self.total)
        filled = round(self.WIDTH * done / self.total)
        return (
            f"{self.prefix}[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{self.total}  {elapsed:.1f} s"
        )

    def note(self, text: str) -> None:
        """A line between steps (a bake's progress), so a long wait is never silent."""
        self.last_line = time.monotonic()
        if not self.enabled:
            return
        line = f"{self.prefix}     {text}"
        self._write(("\r\033[K" + line + "\n" + self._bar()) if self.tty else line + "\n")

    def resumed(self) -> None:
        self.count = 0
        if self.enabled:
            self._write(("\r\033[K" if self.tty else "") + f"{self.prefix}(resumed by another worker)\n")

    def close(self) -> None:
        if self.enabled and self.tty:
            self._write("\r\033[K")


class EnvportCommand(BaseCommand):
    """Base of the envport commands: refusals, running or following a deployment, reporting it."""

    def add_json(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    def add_inline(self, parser: Any) -> None:
        parser.add_argument(
            "--inline", action="store_true", help="run in this process (no broker, no worker)"
        )

    # --- refusals (exit 2) ----------------------------------------------------------------------
    def refuse(
        self,
        message: str,
        problems: list[str] | None = None,
        *,
        as_json: bool = False,
        environment: str = "",
        kind: str = "",
    ) -> NoReturn:
        problems = problems or [message]
        self.stderr.write(f"error: {message}")
        for problem in problems:
            if problem != message:
                self.stderr.write(f"  - {problem}")
        if as_json:
            self.print_json(refusal_document(environment, kind, message, problems))
        raise Exit(BAD_INPUT)

    def refuse_action(self, exc: ActionError, *, as_json: bool, environment: str, kind: str) -> NoReturn:
        self.refuse(exc.message, exc.problems, as_json=as_json, environment=environment, kind=kind)

    def call_service(self, call: Callable[[], T], *, env: Environment, kind: str, as_json: bool) -> T:
        """A service call of a command that reads or writes AWS at once (no run): a refusal exits 2
        as every refusal does; AWS failing to do it exits 1, with the error as `status: failed`."""
        try:
            return call()
        except (InvalidInput, Forbidden, NotFound) as exc:
            self.refuse_action(exc, as_json=as_json, environment=env.suffix, kind=kind)
        except ActionError as exc:
            self.stderr.write(f"error: {exc.message}")
            if as_json:
                failed = {"environment": env.suffix, "kind": kind, "status": "failed", "error": exc.message}
                self.print_json(failed)
            raise Exit(RUN_FAILED) from None

    def environment(self, suffix: str, *, as_json: bool, kind: str = "") -> Environment:
        try:
            return environments.get_environment(suffix)
        except NotFound as exc:
            self.refuse_action(exc, as_json=as_json, environment=suffix, kind=kind)

    def print_json(self, document: Any) -> None:
        self.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str))

    def add_name_or_all(self, parser: Any, *, all_help: str) -> None:
        """An environment's name, or --all (`check_name_or_all` refuses neither and both)."""
        parser.add_argument("name", nargs="?", help="the environment's suffix")
        parser.add_argument("--all", action="store_true", help=all_help)

    def check_name_or_all(self, opts: dict[str, Any], *, kind: str) -> None:
        if bool(opts["name"]) == bool(opts["all"]):
            self.refuse("give an environment's name or --all (not both)", as_json=opts["json"], kind=kind)

    # --- running ----------------------------------------------------------------------------------
    def request(self, env: Environment, kind: str, options: dict[str, Any], *, as_json: bool) -> Deployment:
        try:
            return run_service.request_deployment(Actor.cli(), env, kind, options)
        except ActionError as exc:
            self.refuse_action(exc, as_json=as_json, environment=env.suffix, kind=kind)

    def run_one(
        self, env: Environment, kind: str, options: dict[str, Any], *, inline: bool, as_json: bool
    ) -> None:
        """Request one run, run or follow it, report it; leave with exit 1 unless it succeeded."""
        self.follow_one(self.request(env, kind, options, as_json=as_json), inline=inline, as_json=as_json)

    def follow_one(self, dep: Deployment, *, inline: bool, as_json: bool) -> None:
        """Run or follow a requested deployment, report it; leave with exit 1 unless it succeeded."""
        (dep,) = self.execute_runs([dep], inline=inline, as_json=as_json)
        code = self.report(dep, as_json=as_json)
        if code:
            raise Exit(code)

    def printer(self, dep: Deployment, *, as_json: bool, prefix: str = "") -> StepPrinter:
        total = expected_steps(dep.kind, dep.spec_snapshot)
        return StepPrinter(self.stdout, total, enabled=not as_json, tty=self.stdout.isatty(), prefix=prefix)

    def execute_runs(self, deps: list[Deployment], *, inline: bool, as_json: bool) -> list[Deployment]:
        """Run in this process (--inline), or enqueue each and follow them until they all finish."""
        multiple = len(deps) > 1
        printers = {
            d.pk: self.printer(d, as_json=as_json, prefix=f"{d.environment.suffix}: " if multiple else "")
            for d in deps
        }
        if not as_json:
            where = "in this process" if inline else "on a worker"
            for dep in deps:
                self.stderr.write(f"deployment #{dep.pk}: {dep.kind} {dep.environment.suffix} ({where})")
        if inline:
            finished = []
            for dep in deps:
                finished.append(run_service.run_deployment(dep.pk, progress=printers[dep.pk].step))
                printers[dep.pk].close()
                run_service.requeue_superseded(finished[-1], dispatch.enqueue)
            return finished
        for dep in deps:
            dispatch.enqueue(dep)
        return self.follow(deps, printers)

    def follow(self, deps: list[Deployment], printers: dict[int, StepPrinter]) -> list[Deployment]:
        """Poll the database every 0.5 s; print steps as they finish; return once all are done."""
        seen = {d.pk: 0 for d in deps}
        attempts = {d.pk: d.attempts for d in deps}
        t0 = time.monotonic()
        hinted = False
        try:
            while True:
                current = {
                    d.pk: d for d in Deployment.objects.filter(pk__in=seen).select_related("environment")
                }
                for dep in current.values():
                    if dep.attempts > max(attempts[dep.pk], 1):
                        printers[dep.pk].resumed()
                        seen[dep.pk] = 0
                    attempts[dep.pk] = dep.attempts
                query = Step.objects.none()
                for pk, position in seen.items():
                    query = query | Step.objects.filter(deployment_id=pk, position__gt=position)
                for step in query.order_by("deployment_id", "position"):
                    printers[step.deployment_id].step(step)
                    seen[step.deployment_id] = max(seen[step.deployment_id], step.position)
                for dep in current.values():
                    printer = printers[dep.pk]
                    baking = dep.status == Deployment.Status.RUNNING and dep.kind == Deployment.Kind.RELEASE
                    if baking and time.monotonic() - printer.last_line >= PROGRESS_EVERY_S:
                        printer.note(bake_line(dep))
                if all(d.status not in ACTIVE_STATUSES for d in current.values()):
                    for printer in printers.values():
                        printer.close()
                    return [current[d.pk] for d in deps]
                queued = [d for d in current.values() if d.status == Deployment.Status.QUEUED]
                if queued and not hinted and time.monotonic() - t0 > QUEUED_HINT_S:
                    hinted = True
                    self.stderr.write(
                        f"still queued after {QUEUED_HINT_S:.0f} s: is a Celery worker running? "
                        "(`make up` starts one; `--inline` runs in this process)"
                    )
                _sleep(POLL_S)
        except KeyboardInterrupt:
            self.stderr.write(
                "\nstopped following; the run goes on: " + ", ".join(f"deployment #{pk}" for pk in seen)
            )
            raise Exit(130) from None

    # --- reporting --------------------------------------------------------------------------------
    def report(self, dep: Deployment, *, as_json: bool) -> int:
        code = exit_code(dep)
        document = deployment_document(dep)
        if as_json:
            self.print_json(document)
        else:
            self.print_text(document)
        if dep.error:
            self.stderr.write(f"error: {dep.error}")
        return code

    def print_warnings(self, warnings: list[dict[str, Any]]) -> None:
        """Settings that provision fine but fail clients under load (spec.capacity_warnings)."""
        for warning in warnings:
            self.stdout.write(f"WARNING {warning['message']}")

    def print_release(self, doc: dict[str, Any]) -> None:
        artifact = doc.get("artifact") or {}
        if artifact:
            self.stdout.write(
                f"artifact {short_hash(artifact['sha256'])} ({artifact['size_bytes']} bytes, "
                f"from {artifact['source']})"
            )
        self.stdout.write(f"version {shown(doc.get('from_version'))} -> {shown(doc.get('to_version'))}")
        if doc.get("traffic") and doc["kind"] == Deployment.Kind.RELEASE:
            moves = ", ".join(f"{t['percent']}% at {t['at_s']:.1f} s" for t in doc["traffic"])
            self.stdout.write(f"traffic on the new version: {moves}")
        if doc.get("rollback_reason"):
            self.stdout.write(f"rollback reason: {doc['rollback_reason']}")

    def print_text(self, doc: dict[str, Any]) -> None:
        seconds = f" in {doc['seconds']:.1f} s" if doc["seconds"] is not None else ""
        calls = doc["calls"]
        result = f", {doc['result'].replace('_', ' ')}" if doc.get("result") else ""
        self.stdout.write(
            f"{doc['kind']} {doc['environment']}: {doc['status']}{result}{seconds} "
            f"(deployment #{doc['deployment']}; AWS calls {calls['total']}, {calls['mutating']} mutating)"
        )
        self.print_warnings(doc["warnings"])
        if doc["kind"] == Deployment.Kind.PLAN:
            changes = [s for s in doc["steps"] if s["action"] != "no-op"]
            self.stdout.write(f"plan: {len(changes)} of {len(doc['steps'])} resources would change")
            for step in doc["steps"]:
                if step["action"] != "no-op":
                    self.stdout.write(f"  {step['action']:<8} {step['resource']}")
                    for diff in step["diffs"]:
                        self.stdout.write(
                            f"      {diff['field']}: {shown(diff['found'])} -> {shown(diff['wanted'])}"
                        )
        if doc["kind"] in (Deployment.Kind.RELEASE, Deployment.Kind.ROLLBACK):
            self.print_release(doc)
        elif doc["outputs"]:
            self.stdout.write("outputs:")
            for key, value in doc["outputs"].items():
                self.stdout.write(f"  {key:<18} {shown(value)}")
        if doc["checks"]:
            passed = sum(1 for c in doc["checks"] if c["passed"])
            self.stdout.write(f"checks: {passed} of {len(doc['checks'])} passed")
            for check in doc["checks"]:
                mark = "PASS" if check["passed"] else "FAIL"
                status = check["status"] if check["status"] is not None else "-"
                latency = f"{check['latency_ms']:.1f} ms" if check["latency_ms"] is not None else ""
                line = f"  {mark} {check['name']:<40} {status!s:>4} {latency:>10}"
                if not check["passed"]:
                    line += f"  expected {check['expected']}, found {check['found']}"
                self.stdout.write(line)
        if doc["findings"]:
            self.stdout.write(f"findings: {len(doc['findings'])}")
            for f in doc["findings"]:
                self.stdout.write(
                    f"  {f['resource']}.{f['field']}: wanted {shown(f['wanted'])}, found {shown(f['found'])}"
                )


class EnvironmentCommand(EnvportCommand):
    """A command about one environment, named first: `manage.py COMMAND NAME [its options]
    [--inline] [--json]`. It finds the environment (unknown: refused, exit 2) and hands it to
    `handle_environment`."""

    kind = ""  # what its refusals and documents name (`kind_of` where its options choose)
    name_help = "the environment's suffix"
    inline = False  # it runs a deployment: --inline runs it in this process

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", help=self.name_help)
        self.add_options(parser)
        if self.inline:
            self.add_inline(parser)
        self.add_json(parser)

    def add_options(self, parser: Any) -> None:
        """The command's own options, after the name and before --inline and --json."""

    def kind_of(self, opts: dict[str, Any]) -> str:
        return self.kind

    def handle(self, *args: Any, **opts: Any) -> None:
        kind = self.kind_of(opts)
        self.handle_environment(self.environment(opts["name"], as_json=opts["json"], kind=kind), kind, opts)

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        raise NotImplementedError

    def follow_request(
        self, request: Callable[[], Deployment], env: Environment, kind: str, opts: dict[str, Any]
    ) -> None:
        """Request a run (a refusal exits 2), then run or follow it and report it (see `follow_one`)."""
        try:
            dep = request()
        except ActionError as exc:
            self.refuse_action(exc, as_json=opts["json"], environment=env.suffix, kind=kind)
        self.follow_one(dep, inline=opts["inline"], as_json=opts["json"])


class ServiceCommand(EnvironmentCommand):
    """A command that reads or writes AWS at once, with no run (see `call_service`): `answer` asks
    the service, `document` is what --json prints of it, `print_answer` the text."""

    def handle_environment(self, env: Environment, kind: str, opts: dict[str, Any]) -> None:
        found = self.call_service(lambda: self.answer(env), env=env, kind=kind, as_json=opts["json"])
        if opts["json"]:
            self.print_json(self.document(env, found))
        else:
            self.print_answer(env, found)

    def answer(self, env: Environment) -> dict[str, Any]:
        raise NotImplementedError

    def document(self, env: Environment, found: dict[str, Any]) -> dict[str, Any]:
        return found

    def print_answer(self, env: Environment, found: dict[str, Any]) -> None:
        raise NotImplementedError


def plural(n: int, word: str) -> str:
    """ "1 call", "2 calls"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def short_hash(sha256: str | None) -> str:
    """A hash as text shows it: its first 12 characters (`--json` has it whole)."""
    return (sha256 or "-")[:12]


def shown(value: Any) -> str:
    """A value as a person writes it: `-` for nothing, lists comma-separated, true/false, k=v."""
    if value is None or value == "" or value == () or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={shown(v)}" for k, v in value.items())
    return str(value)


def when(iso: str | None) -> str:
    """A stored timestamp to the second, in UTC: 2026-11-29 03:21:43 UTC."""
    if not iso:
        return "-"
    import datetime as dt

    moment = dt.datetime.fromisoformat(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def bake_line(dep: Deployment) -> str:
    """Where a running release is: its traffic split, its phase, and the last alarm verdict."""
    state = dep.release_state or {}
    percent, new, old = state.get("percent", 0), state.get("to_version"), state.get("from_version")
    split = f"{percent}% on version {shown(new)}, {100 - percent}% on version {shown(old)}"
    alarms = dep.checks.filter(name__startswith="alarms").order_by("-position").first()
    verdict = f"; alarms: {alarms.found}" if alarms is not None else "; alarms: not checked yet"
    return f"{state.get('phase', 'started')}: {split}{verdict}"


def exit_code(dep: Deployment) -> int:
    """0 succeeded, 1 failed (or cancelled), 3 succeeded with drift found (see the module's doc)."""
    if dep.status != Deployment.Status.SUCCEEDED:
        return RUN_FAILED
    return DRIFT_FOUND if dep.result == "drift_found" else OK


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
