"""Releases: ship new function code through an immutable Lambda version and the `live` alias.

`release()` updates `$LATEST` from the artifact in S3, publishes a version, runs the verification
journey against that version directly (invoked by version, no API Gateway) before any traffic
moves, then moves traffic through the alias's routing weights (`all-at-once`, `canary`, `linear`)
while watching the environment's alarms, the new version's own `Errors` metric and the journey
again. Any alarm in ALARM or failed check rolls back: the alias returns to the previous version at
100% and the environment's alarm topic is told why (R-REL-2..4). `rollback()` moves the alias to an
earlier retained version on demand; after a promotion, versions beyond a retention count are
deleted, never one an alias points at (R-REL-6).

Why it is shaped like this:
- Only Lambda, CloudWatch and SNS are called: API Gateway's integration and permission name the
  alias, so neither a release nor a rollback spends API Gateway's scarce control-plane quota.
- Traffic is never left split: every exit, an exception included, ends with the alias serving one
  version at 100% (`_Release._abort`). A worker that dies outright (kill -9) cannot run any exit
  path, so every phase and traffic change goes out through `on_event` as a serialisable
  `ReleaseState`; called again with it, the release resumes from the recorded traffic state (no
  second publish, no second pre-traffic journey, the bake's remaining time only) and ends once.
- Releasing the code that already serves 100% reads two things and changes nothing (R-REL-6).
- Bad input (strategy, durations, code reference, retention, a version to roll back to) is
  refused with every problem listed before any AWS call, like `spec.SpecError`.

Nothing here knows about Django, the local cloud or moto; the clock and sleep are injectable so
that a test can run a bake without waiting for it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .aws import AwsClients, CallCounts, error_code, paged_items
from .checks import Check
from .names import HANDLER, LIVE_ALIAS
from .resources.alarms import ALARMS, alarm_name
from .spec import EnvironmentSpec, Problem, ProblemsError
from .verify import verify_version

# --- input: strategies, durations, the code to ship ---------------------------------------------
ALL_AT_ONCE, CANARY, LINEAR = "all-at-once", "canary", "linear"
KINDS = (ALL_AT_ONCE, CANARY, LINEAR)
MAX_DURATION_S = 24 * 3600  # a bake longer than a day is a forgotten release, not a strategy
DEFAULT_RETAIN = 5
_DURATION = re.compile(r"^(\d+)([smh])$")
_UNITS = {"s": 1, "m": 60, "h": 3600}
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_HANDLER_FORM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_VERSION = re.compile(r"^[1-9][0-9]*$")


class ReleaseInputError(ProblemsError):
    """Every problem of a release's or rollback's input at once, found before any AWS call."""

    what = "release"


class ReleaseRefused(RuntimeError):
    """What is live forbids the release or rollback (no alias, a split alias, no such version).

    Raised before anything is changed, so there is nothing to undo.
    """


def parse_duration(text: str | int) -> int:
    """`30s`, `5m`, `1h` (or a whole number of seconds) -> seconds; anything else is refused."""
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text <= MAX_DURATION_S:
        return text
    found = _DURATION.match(text.strip()) if isinstance(text, str) else None
    seconds = int(found.group(1)) * _UNITS[found.group(2)] if found else -1
    if not 0 <= seconds <= MAX_DURATION_S:
        raise ReleaseInputError([Problem("duration", text, _DURATION_ALLOWED)])
    return seconds


_DURATION_ALLOWED = f"a whole number with s, m or h, such as 30s, 5m or 1h, at most {MAX_DURATION_S // 3600}h"


@dataclass(frozen=True)
class Strategy:
    """How traffic moves to the new version (R-REL-3).

    `all-at-once`: 100% once the pre-traffic checks pass (then watched for `bake_s`, if any);
    `canary`: `percent` for `bake_s`, then 100%; `linear`: `percent` more every `interval_s`.
    """

    kind: str = ALL_AT_ONCE
    percent: int = 10
    bake_s: int = 0
    interval_s: int = 0

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.kind not in KINDS:
            found.append(Problem("strategy", self.kind, "one of " + ", ".join(KINDS)))
        if self.kind in (CANARY, LINEAR) and not _int_in(self.percent, 1, 99):
            found.append(Problem("percent", self.percent, "an integer from 1 to 99"))
        for name, value in (("bake", self.bake_s), ("interval", self.interval_s)):
            if not _int_in(value, 0, MAX_DURATION_S):
                found.append(Problem(name, value, _DURATION_ALLOWED))
        if self.kind == LINEAR and _int_in(self.interval_s, 0, 0):
            found.append(Problem("interval", self.interval_s, "more than 0s for a linear release"))
        return found

    def steps(self) -> list[tuple[int, int]]:
        """(percent on the new version, seconds it is held and watched there), in order."""
        if self.kind == CANARY:
            return [(self.percent, self.bake_s), (100, 0)]
        if self.kind == LINEAR:
            shares = list(range(self.percent, 100, self.percent))
            return [(p, self.interval_s) for p in shares] + [(100, 0)]
        return [(100, self.bake_s)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# Stage defaults (R-REL-3); every field can be overridden per release through `strategy_for`.
STAGE_STRATEGIES: dict[str, Strategy] = {
    "dev": Strategy(ALL_AT_ONCE),
    "staging": Strategy(CANARY, percent=10, bake_s=300),
    "prod": Strategy(CANARY, percent=10, bake_s=600),
}
# What a release that names another kind than its stage's default starts from.
KIND_DEFAULTS: dict[str, Strategy] = {
    ALL_AT_ONCE: Strategy(ALL_AT_ONCE),
    CANARY: Strategy(CANARY, percent=10, bake_s=300),
    LINEAR: Strategy(LINEAR, percent=10, interval_s=60),
}


def strategy_for(
    stage: str,
    kind: str | None = None,
    percent: int | str | None = None,
    bake: int | str | None = None,
    interval: int | str | None = None,
) -> Strategy:
    """The stage's default strategy with a release's overrides (CLI text or numbers), validated.

    Raises ReleaseInputError listing every problem, before any AWS call.
    """
    problems: list[Problem] = []
    base = STAGE_STRATEGIES.get(stage)
    if base is None:
        problems.append(Problem("stage", stage, "one of " + ", ".join(STAGE_STRATEGIES)))
        base = STAGE_STRATEGIES["dev"]
    known_kind = kind is None or kind in KIND_DEFAULTS
    if not known_kind:
        problems.append(Problem("strategy", kind, "one of " + ", ".join(KINDS)))
    elif kind is not None and kind != base.kind:
        base = KIND_DEFAULTS[kind]
    changes: dict[str, Any] = {}
    if percent is not None:
        if base.kind == ALL_AT_ONCE and known_kind:
            problems.append(Problem("percent", percent, "only canary and linear releases take a percent"))
        elif isinstance(percent, str) and percent.strip().isdigit():
            changes["percent"] = int(percent)
        else:
            changes["percent"] = percent
    for name, raw, attr, kinds in (
        ("bake", bake, "bake_s", (ALL_AT_ONCE, CANARY)),
        ("interval", interval, "interval_s", (LINEAR,)),
    ):
        if raw is None:
            continue
        if base.kind not in kinds and known_kind:
            problems.append(Problem(name, raw, f"only {' and '.join(kinds)} releases take a {name}"))
            continue
        try:
            changes[attr] = parse_duration(raw)
        except ReleaseInputError as exc:
            problems.extend(replace(p, field=name) for p in exc.problems)
    strategy = replace(base, **changes)
    problems.extend(strategy.problems())
    if problems:
        raise ReleaseInputError(problems)
    return strategy


@dataclass(frozen=True)
class CodeRef:
    """The artifact to ship: a zip in S3 and the SHA-256 it must have, plus its handler."""

    bucket: str
    key: str
    sha256_hex: str
    handler: str = HANDLER
    object_version: str | None = None  # the S3 object version, when the bucket is versioned

    @property
    def sha256_b64(self) -> str:
        """The same digest as Lambda's `CodeSha256` (base64, not hex)."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode("ascii")

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not self.bucket or not isinstance(self.bucket, str):
            found.append(Problem("code.bucket", self.bucket, "the S3 bucket that holds the artifact"))
        if not self.key or not isinstance(self.key, str):
            found.append(Problem("code.key", self.key, "the S3 key of the artifact's zip"))
        if not isinstance(self.sha256_hex, str) or not _SHA256_HEX.match(self.sha256_hex):
            found.append(Problem("code.sha256", self.sha256_hex, "64 lower-case hexadecimal digits"))
        if not isinstance(self.handler, str) or not _HANDLER_FORM.match(self.handler):
            found.append(Problem("handler", self.handler, "MODULE.FUNCTION, such as package.handler.main"))
        return found


# --- what a release reports ----------------------------------------------------------------------
STARTED, PUBLISHED, VERIFIED, SHIFTED = "started", "published", "verified", "shifted"
PROMOTED, ROLLED_BACK, FAILED, UNCHANGED = "promoted", "rolled_back", "failed", "unchanged"
TERMINAL = (PROMOTED, ROLLED_BACK, FAILED, UNCHANGED)


@dataclass
class ReleaseState:
    """Where a release is: enough to resume it after its worker died, and JSON-serialisable.

    `percent` is the new version's share of the alias's traffic; `bake_started_at` (epoch
    seconds) is when traffic reached that share; `checked_percent` is the share at which the
    in-bake journey last passed; `traffic` lists every change as {"at": epoch s, "percent"}.
    """

    code_sha256: str  # hex
    from_version: str | None = None
    to_version: str | None = None
    percent: int = 0
    phase: str = STARTED
    started_at: float = 0.0
    bake_started_at: float | None = None
    pre_traffic_passed: bool = False
    checked_percent: int | None = None
    traffic: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    notified: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReleaseState:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ReleaseEvent:
    """One phase or traffic change; `state` is what to store for a resume, `checks` what was just
    checked (the journey's checks, or an alarm or metric verdict)."""

    state: ReleaseState
    message: str
    checks: tuple[Check, ...] = ()


EventSink = Callable[[ReleaseEvent], None]


@dataclass
class ReleaseResult:
    operation: str  # release / rollback
    environment: str
    outcome: str  # promoted / rolled_back / failed / unchanged
    from_version: str | None
    to_version: str | None
    code_sha256: str | None
    traffic: list[dict[str, Any]]  # [{"at_s", "percent"}], seconds from the release's start
    reason: str | None
    checks: list[Check]
    calls: CallCounts
    wall_s: float
    state: ReleaseState | None = None
    deleted_versions: list[str] = field(default_factory=list)
    notified: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A release succeeded when promoted (or nothing to do); a rollback when it completed."""
        if self.error is not None:
            return False
        wanted = (ROLLED_BACK, UNCHANGED) if self.operation == "rollback" else (PROMOTED, UNCHANGED)
        return self.outcome in wanted

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "environment": self.environment,
            "outcome": self.outcome,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "code_sha256": self.code_sha256,
            "traffic": self.traffic,
            "rollback_reason": self.reason,
            "checks": [c.to_dict() for c in self.checks],
            "calls": self.calls.to_dict(),
            "wall_s": round(self.wall_s, 4),
            "deleted_versions": self.deleted_versions,
            "notified": self.notified,
            "error": self.error,
            "notes": self.notes,
            "state": self.state.to_dict() if self.state else None,
        }


# --- the alias -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Serving:
    """What the alias serves: its primary version and the extra versions' weights (0..1)."""

    version: str
    weights: dict[str, float]
    code_sha256: str | None = None  # Lambda's base64 CodeSha256 of the primary version

    def share_of(self, version: str) -> int:
        """The percentage of traffic `version` gets."""
        if version in self.weights:
            return round(self.weights[version] * 100)
        if version == self.version:
            return 100 - sum(round(w * 100) for w in self.weights.values())
        return 0


def serving(spec: EnvironmentSpec, clients: AwsClients) -> Serving:
    """The version (and its code's CodeSha256) the environment's alias serves: two reads."""
    alias = _get_alias(clients, spec.names.function)
    config = clients.client("lambda").get_function_configuration(
        FunctionName=spec.names.function, Qualifier=alias.version
    )
    return replace(alias, code_sha256=config.get("CodeSha256"))


def _get_alias(clients: AwsClients, function: str) -> Serving:
    try:
        alias = clients.client("lambda").get_alias(FunctionName=function, Name=LIVE_ALIAS)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ReleaseRefused(
                f"function {function} has no alias {LIVE_ALIAS!r}: provision the environment first "
                "(it publishes a version and points the alias at it)"
            ) from exc
        raise
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return Serving(str(alias["FunctionVersion"]), {str(k): float(v) for k, v in weights.items()})


def _published_versions(clients: AwsClients, function: str) -> list[int]:
    return sorted(_version_tables(clients, function))


def _version_tables(clients: AwsClients, function: str) -> dict[int, str]:
    """Each published version and the table it reads (its TABLE_NAME; "" when it has none), from
    the one listing: a version's configuration is frozen when it is published."""
    versions = paged_items(
        clients.client("lambda"), "list_versions_by_function", "Versions", FunctionName=function
    )
    return {
        int(v["Version"]): str(((v.get("Environment") or {}).get("Variables") or {}).get("TABLE_NAME", ""))
        for v in versions
        if str(v.get("Version", "")).isdigit()
    }


def _aliased_versions(clients: AwsClients, function: str) -> set[str]:
    """Every version any alias of the function points at, primary or by weight."""
    pinned: set[str] = set()
    for alias in paged_items(clients.client("lambda"), "list_aliases", "Aliases", FunctionName=function):
        pinned.add(str(alias.get("FunctionVersion")))
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        pinned.update(str(v) for v in weights)
    return pinned


# --- release -------------------------------------------------------------------------------------
def release(
    spec: EnvironmentSpec,
    clients: AwsClients,
    code: CodeRef,
    strategy: Strategy,
    state: ReleaseState | None = None,
    *,
    on_event: EventSink | None = None,
    retain: int = DEFAULT_RETAIN,
    poll_s: float = 10.0,
    max_version_errors: int | None = None,
    wait_timeout_s: float = 300.0,
    restore: CodeRef | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ReleaseResult:
    """Ship `code` into the environment with `strategy`; resume from `state` if one is given.

    Returns the outcome (promoted, rolled_back, failed, unchanged); raises ReleaseInputError for
    bad input and ReleaseRefused when what is live forbids it, both before any change.
    `max_version_errors` is how many `Errors` of the new version (its `ExecutedVersion` metric
    behind the alias) fail the release; by default the environment's own Errors alarm threshold.
    `retain` published versions are kept after a promotion, besides any an alias points at.
    `restore`: the code that serves now; a release that does not promote puts `$LATEST` back to it.
    """
    problems = code.problems() + strategy.problems() + (restore.problems() if restore else [])
    if not _int_in(retain, 1, 1000):
        problems.append(Problem("retain", retain, "an integer from 1 to 1000 (versions kept)"))
    if not isinstance(poll_s, (int, float)) or poll_s <= 0:
        problems.append(Problem("poll_s", poll_s, "more than 0 seconds"))
    if max_version_errors is not None and not _int_in(max_version_errors, 1, 1_000_000):
        problems.append(Problem("max_version_errors", max_version_errors, "an integer of at least 1"))
    if state is not None and state.code_sha256 != code.sha256_hex:
        problems.append(
            Problem("state", state.code_sha256, f"the state of a release of {code.sha256_hex} (this code)")
        )
    if problems:
        raise ReleaseInputError(problems)
    threshold = max_version_errors or spec.settings.alarm_lambda_errors
    run = _Release(
        spec,
        clients,
        code,
        strategy,
        state,
        on_event,
        retain,
        poll_s,
        threshold,
        wait_timeout_s,
        clock,
        sleep,
        restore,
    )
    return run.run()


class _Latest:
    """`$LATEST` of one function: set to a code reference, waiting out Lambda's update states."""

    def __init__(
        self,
        lam: Any,
        function: str,
        wait_timeout_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.lam, self.function, self.wait_timeout_s = lam, function, wait_timeout_s
        self.clock, self.sleep = clock, sleep

    def set(self, code: CodeRef) -> None:
        """`$LATEST` holding `code` and its handler, updated only where it differs."""
        latest = self.wait_ready()
        if latest.get("Handler") != code.handler:
            self.retrying(
                lambda: self.lam.update_function_configuration(
                    FunctionName=self.function, Handler=code.handler
                )
            )
            latest = self.wait_ready()
        if latest.get("CodeSha256") != code.sha256_b64:
            params: dict[str, Any] = {
                "FunctionName": self.function,
                "S3Bucket": code.bucket,
                "S3Key": code.key,
            }
            if code.object_version:
                params["S3ObjectVersion"] = code.object_version
            updated = self.retrying(lambda: self.lam.update_function_code(**params))
            if updated.get("CodeSha256") != code.sha256_b64:
                raise RuntimeError(
                    f"s3://{code.bucket}/{code.key} is not the artifact: Lambda read CodeSha256 "
                    f"{updated.get('CodeSha256')!r}, expected {code.sha256_b64!r} (SHA-256 {code.sha256_hex})"
                )
            self.wait_ready()

    def wait_ready(self) -> dict[str, Any]:
        """$LATEST Active with its last update Successful (bounded); a Failed update raises."""
        deadline = self.clock() + self.wait_timeout_s
        delay = 0.5
        while True:
            config: dict[str, Any] = self.lam.get_function_configuration(FunctionName=self.function)
            if config.get("State") == "Failed" or config.get("LastUpdateStatus") == "Failed":
                reason = (
                    config.get("LastUpdateStatusReason") or config.get("StateReason") or "no reason given"
                )
                raise RuntimeError(f"Lambda function {self.function} failed to update: {reason}")
            if config.get("State", "Active") == "Active" and config.get("LastUpdateStatus") in (
                None,
                "Successful",
            ):
                return config
            if self.clock() > deadline:
                raise TimeoutError(
                    f"timed out after {self.wait_timeout_s:.0f} s waiting for {self.function} "
                    "to be Active with its last update Successful"
                )
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def retrying(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """An update still in progress answers ResourceConflictException: wait and try again."""
        delay = 1.0
        for attempt in range(6):
            try:
                return call()
            except Exception as exc:
                if attempt == 5 or error_code(exc) != "ResourceConflictException":
                    raise
                self.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")


def align_latest(
    spec: EnvironmentSpec,
    clients: AwsClients,
    code: CodeRef,
    *,
    wait_timeout_s: float = 300.0,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Put `$LATEST` on `code` (after a rollback on demand: the code the alias now serves), so that
    the function and its alias agree and a later provision does not publish what was rolled back."""
    problems = code.problems()
    if problems:
        raise ReleaseInputError(problems)
    _Latest(clients.client("lambda"), spec.names.function, wait_timeout_s, clock, sleep).set(code)


class _Release:
    """One release run; `run()` drives it to an end and never leaves traffic split."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        clients: AwsClients,
        code: CodeRef,
        strategy: Strategy,
        state: ReleaseState | None,
        on_event: EventSink | None,
        retain: int,
        poll_s: float,
        max_version_errors: int,
        wait_timeout_s: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        restore: CodeRef | None = None,
    ) -> None:
        self.spec, self.clients, self.code, self.strategy = spec, clients, code, strategy
        self.restore = restore  # what `$LATEST` goes back to if the release does not promote
        self.state = None if state is None else ReleaseState.from_dict(state.to_dict())  # our own copy
        self.on_event, self.retain, self.poll_s = on_event, retain, poll_s
        self.max_version_errors, self.wait_timeout_s = max_version_errors, wait_timeout_s
        self.clock, self.sleep = clock, sleep
        self.function = spec.names.function
        self.lam = clients.client("lambda")
        self.latest = _Latest(self.lam, self.function, wait_timeout_s, clock, sleep)
        self.checks: list[Check] = []
        self.notes: list[str] = []
        self.deleted: list[str] = []
        self.error: str | None = None

    # --- the run ---------------------------------------------------------------------------
    def run(self) -> ReleaseResult:
        started = time.monotonic()
        before = self.clients.recorder.snapshot()
        try:
            self._drive()
        except ReleaseRefused as exc:
            if self.state is None:  # refused before anything started: nothing to undo
                raise
            self._abort(exc)
        except Exception as exc:
            self._abort(exc)
        except BaseException as exc:  # interrupted (SystemExit, KeyboardInterrupt): restore, then go
            self._abort(exc)
            raise
        st = self.state
        if st is not None and st.phase in (ROLLED_BACK, FAILED) and st.to_version is not None:
            self._restore_latest()
        return ReleaseResult(
            operation="release",
            environment=self.spec.suffix,
            outcome=st.phase if st is not None and st.phase in TERMINAL else FAILED,
            from_version=st.from_version if st else None,
            to_version=st.to_version if st else None,
            code_sha256=self.code.sha256_hex,
            traffic=_relative(st),
            reason=st.reason if st else None,
            checks=list(self.checks),
            calls=self.clients.recorder.since(before),
            wall_s=time.monotonic() - started,
            state=st,
            deleted_versions=list(self.deleted),
            notified=bool(st and st.notified),
            error=self.error,
            notes=list(self.notes),
        )

    def _drive(self) -> None:
        if self.state is None:
            alias = _get_alias(self.clients, self.function)
            self._refuse_unless_releasable(alias)
            config = self.lam.get_function_configuration(FunctionName=self.function, Qualifier=alias.version)
            if (
                config.get("CodeSha256") == self.code.sha256_b64
                and config.get("Handler") == self.code.handler
            ):
                self.state = ReleaseState(
                    self.code.sha256_hex, alias.version, alias.version, 100, UNCHANGED, self.clock()
                )
                self._emit(f"version {alias.version} already serves this code at 100%: nothing to do")
                return
            self.state = ReleaseState(self.code.sha256_hex, alias.version, started_at=self.clock())
            self._emit(f"release from version {alias.version} started")
        st = self.state
        if st.phase in TERMINAL:
            self._end_again()
            return
        if st.to_version is None:
            self._publish()
        if not st.pre_traffic_passed:
            failure = self._journey("before any traffic moved") or self._alarm_failure(st.percent)
            if failure:
                self._roll_back(failure)
                return
            st.pre_traffic_passed, st.phase = True, VERIFIED
            self._emit(f"version {st.to_version} passed its checks before any traffic moved")
        self._shift_and_watch()

    def _refuse_unless_releasable(self, alias: Serving) -> None:
        if not alias.version.isdigit():
            raise ReleaseRefused(
                f"alias {LIVE_ALIAS!r} of {self.function} points at {alias.version}, not a published "
                "version; updating its code would change live traffic at once: provision the "
                "environment so the alias serves a published version"
            )
        if alias.weights:
            raise ReleaseRefused(
                f"alias {LIVE_ALIAS!r} of {self.function} is split ({_describe_split(alias)}): another "
                "release is still going or died; resume it or roll back first"
            )

    # --- publish -----------------------------------------------------------------------------
    def _publish(self) -> None:
        st, code = self._state(), self.code
        self.latest.set(code)
        published = self.latest.retrying(
            lambda: self.lam.publish_version(
                FunctionName=self.function,
                CodeSha256=code.sha256_b64,
                Description=f"envport release {code.sha256_hex[:12]}",
            )
        )
        version = str(published["Version"])
        if version == st.from_version:
            raise RuntimeError(f"publishing returned version {version}, the one the alias already serves")
        st.to_version, st.phase = version, PUBLISHED
        self._emit(f"published version {version} (artifact {code.sha256_hex[:12]})")

    def _restore_latest(self) -> None:
        """After a release that did not promote, `$LATEST` goes back to the code that serves, so
        that it matches the live alias again: otherwise drift reports the alias behind `$LATEST`
        and the next provision would publish the rejected code (the alias follows `$LATEST`)."""
        if self.restore is None:
            return
        try:
            self.latest.set(self.restore)
        except Exception as exc:  # traffic is already safe; say so rather than fail the rollback
            self.notes.append(f"$LATEST still holds the rejected code ({type(exc).__name__}: {exc})")
        else:
            self.notes.append(f"$LATEST restored to the serving code ({self.restore.sha256_hex[:12]})")

    # --- traffic -----------------------------------------------------------------------------
    def _shift_and_watch(self) -> None:
        st = self._state()
        live = self._live_percent()
        if live != st.percent:  # the worker died between moving the alias and recording it
            self.notes.append(f"the alias gave version {st.to_version} {live}%, the state said {st.percent}%")
            st.percent, st.bake_started_at = live, None
        for percent, hold in self.strategy.steps():
            if percent < st.percent:
                continue
            if percent != st.percent or st.bake_started_at is None:
                self._set_traffic(percent)
            if percent == 100 and hold == 0:
                continue
            if st.checked_percent != percent:
                failure = self._journey(f"with {percent}% of traffic", percent)
                if failure:
                    self._roll_back(failure)
                    return
            failure = self._watch(percent, (st.bake_started_at or self.clock()) + hold)
            if failure:
                self._roll_back(failure)
                return
        st.phase = PROMOTED
        self._emit(f"version {st.to_version} promoted: it serves 100% of traffic")
        self._retain()

    def _live_percent(self) -> int:
        """The new version's share as the alias has it; refuses an alias moved by someone else."""
        st = self._state()
        alias = _get_alias(self.clients, self.function)
        ours = {st.from_version, st.to_version}
        if alias.version not in ours or not set(alias.weights) <= ours:
            raise RuntimeError(
                f"alias {LIVE_ALIAS!r} serves {_describe_split(alias)}, not versions {st.from_version} and "
                f"{st.to_version} of this release: it was changed outside the release"
            )
        return alias.share_of(str(st.to_version))

    def _set_traffic(self, percent: int) -> None:
        st = self._state()
        if percent == 100:
            routing: dict[str, Any] = {"AdditionalVersionWeights": {}}
            self.lam.update_alias(
                FunctionName=self.function,
                Name=LIVE_ALIAS,
                FunctionVersion=st.to_version,
                RoutingConfig=routing,
            )
        else:
            routing = {"AdditionalVersionWeights": {st.to_version: percent / 100}}
            self.lam.update_alias(
                FunctionName=self.function,
                Name=LIVE_ALIAS,
                FunctionVersion=st.from_version,
                RoutingConfig=routing,
            )
        now = self.clock()
        st.percent, st.bake_started_at, st.phase = percent, now, SHIFTED
        st.traffic.append({"at": now, "percent": percent})
        self._emit(f"version {st.to_version} now gets {percent}% of traffic")

    def _watch(self, percent: int, until: float) -> str | None:
        """Alarms and the new version's errors, every `poll_s`, until `until`; a failure's reason."""
        while True:
            for check in (self._alarm_check(percent), self._errors_check(percent)):
                if not check.passed:
                    self._record(check)
                    return f"{check.name}: expected {check.expected}, found {check.found}"
            remaining = until - self.clock()
            if remaining <= 0:
                self._record(self._alarm_check(percent), self._errors_check(percent))
                return None
            self.sleep(min(self.poll_s, remaining))

    # --- checks ------------------------------------------------------------------------------
    def _journey(self, when: str, at_percent: int | None = None) -> str | None:
        """The journey against the new version; passed `at_percent`, that is recorded in the same
        event, so a worker killed after it resumes without running it again."""
        st = self._state()
        report = verify_version(self.spec, self.clients, str(st.to_version), sleep=self.sleep)
        self.checks.extend(report.checks)
        if report.ok and at_percent is not None:
            st.checked_percent = at_percent
        self._emit(f"journey against version {st.to_version} {when}", tuple(report.checks))
        if report.ok:
            return None
        if report.error:
            return f"the journey against version {st.to_version} {when} could not run: {report.error}"
        if not report.checks:
            return f"the journey against version {st.to_version} {when} made no check"
        failed = report.failed[0]
        return f"check '{failed.name}' {when}: expected {failed.expected}, found {failed.found}"

    def _alarm_failure(self, percent: int) -> str | None:
        check = self._alarm_check(percent)
        self._record(check)
        return None if check.passed else f"{check.name}: expected {check.expected}, found {check.found}"

    def _alarm_check(self, percent: int) -> Check:
        """R-REL-4 (a): every alarm of the environment; any in ALARM fails the release."""
        names = [alarm_name(self.spec.names, a.short) for a in ALARMS]
        described = self.clients.client("cloudwatch").describe_alarms(AlarmNames=names)
        alarms = described.get("MetricAlarms", []) + described.get("CompositeAlarms", [])
        firing = [a for a in alarms if a.get("StateValue") == "ALARM"]
        where = f"with {percent}% of traffic on version {self._state().to_version}"
        if firing:
            first = firing[0]
            return Check(
                f"alarm {first['AlarmName']} {where}",
                "R-REL-4",
                False,
                None,
                None,
                "OK or INSUFFICIENT_DATA",
                f"ALARM: {first.get('StateReason', '')}".strip(),
            )
        states = sorted({str(a.get("StateValue")) for a in alarms}) or ["no alarm found"]
        return Check(
            f"alarms {where}",
            "R-REL-4",
            True,
            None,
            None,
            "no alarm of the environment in ALARM",
            f"{len(alarms)} alarms: {', '.join(states)}",
        )

    def _errors_check(self, percent: int) -> Check:
        """R-REL-4 (a), the version's own metric: its Errors behind the alias since traffic moved."""
        st = self._state()
        first_traffic = st.traffic[0]["at"] if st.traffic else self.clock()
        start = dt.datetime.fromtimestamp(first_traffic - 60, tz=dt.UTC)
        end = dt.datetime.fromtimestamp(self.clock() + 60, tz=dt.UTC)
        stats = self.clients.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[
                {"Name": "FunctionName", "Value": self.function},
                {"Name": "Resource", "Value": f"{self.function}:{LIVE_ALIAS}"},
                {"Name": "ExecutedVersion", "Value": str(st.to_version)},
            ],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Sum"],
        )
        errors = int(sum(p.get("Sum", 0.0) for p in stats.get("Datapoints", [])))
        return Check(
            f"errors of version {st.to_version} with {percent}% of traffic",
            "R-REL-4",
            errors < self.max_version_errors,
            None,
            None,
            f"fewer than {self.max_version_errors} Errors (ExecutedVersion {st.to_version})",
            f"{errors} Errors",
        )

    # --- endings -----------------------------------------------------------------------------
    def _roll_back(self, reason: str) -> None:
        st = self._state()
        st.reason = reason
        self._restore()
        st.phase = ROLLED_BACK
        self._emit(f"rolled back: {reason}")
        self._notify()

    def _abort(self, exc: BaseException) -> None:
        """An error stopped the release: traffic returns to the previous version at 100%."""
        self.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        st = self.state
        if st is None or st.phase in TERMINAL:
            return
        verdict = st.reason is not None  # a check had already failed when the error came
        st.reason = st.reason or f"the release stopped on an error: {self.error}"
        try:
            self._restore()
        except Exception as restore_error:
            self.error += (
                f"; TRAFFIC MAY STILL BE SPLIT: returning alias {LIVE_ALIAS!r} to version "
                f"{st.from_version} failed ({restore_error}); resume this release or roll back"
            )
            return
        st.phase = ROLLED_BACK if verdict else FAILED
        try:
            self._emit(f"{st.phase}: {self.error}")
        except Exception as emit_error:
            self.notes.append(f"the failure could not be reported: {emit_error}")
        if st.traffic:
            self._notify()

    def _restore(self) -> None:
        """Back to the previous version at 100%, weights cleared, when the alias serves the new one
        at all; an alias that never moved (or that someone else moved) is left alone."""
        st = self._state()
        if st.to_version is None or st.from_version is None:
            return
        delay = 0.5
        for attempt in range(4):
            try:
                alias = _get_alias(self.clients, self.function)
                if alias.version == st.to_version or st.to_version in alias.weights:
                    self.lam.update_alias(
                        FunctionName=self.function,
                        Name=LIVE_ALIAS,
                        FunctionVersion=st.from_version,
                        RoutingConfig={"AdditionalVersionWeights": {}},
                    )
                elif alias.version != st.from_version or alias.weights:
                    self.notes.append(f"alias left as found: it serves {_describe_split(alias)}")
                break
            except Exception:
                if attempt == 3:
                    raise
                self.sleep(delay)
                delay *= 2
        if st.percent:
            now = self.clock()
            st.percent, st.bake_started_at = 0, now
            st.traffic.append({"at": now, "percent": 0})

    def _notify(self) -> None:
        """Tell the environment's alarm topic why the release did not go through."""
        st = self._state()
        if st.notified:
            return
        names, clients = self.spec.names, self.clients
        topic = f"arn:{clients.partition}:sns:{clients.region}:{clients.account_id}:{names.topic}"
        message = {
            "source": "envport",
            "event": f"release {st.phase}",
            "environment": self.spec.suffix,
            "function": self.function,
            "alias": LIVE_ALIAS,
            "from_version": st.from_version,
            "to_version": st.to_version,
            "code_sha256": st.code_sha256,
            "serving": st.from_version,
            "reason": st.reason,
        }
        subject = f"envport: release into {self.spec.suffix} {st.phase.replace('_', ' ')}"[:100]
        try:
            clients.client("sns").publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))
        except Exception as exc:
            self.notes.append(f"the alarm topic {topic} was not notified: {exc}")
            return
        st.notified = True
        self._emit(f"alarm topic {names.topic} notified")

    def _end_again(self) -> None:
        """Called with a finished state (the worker died after the end): make sure, change nothing."""
        st = self._state()
        if st.phase in (ROLLED_BACK, FAILED):
            self._restore()
            self._notify()
        elif st.phase == PROMOTED:
            self._retain()

    def _retain(self) -> None:
        """Delete published versions beyond the newest `retain`, never one an alias points at."""
        try:
            versions = _published_versions(self.clients, self.function)
            pinned = _aliased_versions(self.clients, self.function)
            for version in versions[: max(0, len(versions) - self.retain)]:
                if str(version) in pinned:
                    continue
                self.lam.delete_function(FunctionName=self.function, Qualifier=str(version))
                self.deleted.append(str(version))
        except Exception as exc:  # the release itself succeeded: a leftover version is no failure
            self.notes.append(f"old versions not all deleted: {exc}")

    # --- plumbing ----------------------------------------------------------------------------
    def _state(self) -> ReleaseState:
        assert self.state is not None, "the release has no state yet"
        return self.state

    def _record(self, *checks: Check) -> None:
        self.checks.extend(checks)
        self._emit("; ".join(f"{c.name}: {'passed' if c.passed else 'failed'}" for c in checks), checks)

    def _emit(self, message: str, checks: tuple[Check, ...] = ()) -> None:
        if self.on_event is not None and self.state is not None:
            self.on_event(ReleaseEvent(ReleaseState.from_dict(self.state.to_dict()), message, checks))


def _describe_split(alias: Serving) -> str:
    if not alias.weights:
        return f"version {alias.version} at 100%"
    extra = ", ".join(f"version {v} at {round(w * 100)}%" for v, w in sorted(alias.weights.items()))
    return f"version {alias.version} at {alias.share_of(alias.version)}%, {extra}"


def _relative(state: ReleaseState | None) -> list[dict[str, Any]]:
    if state is None:
        return []
    return [{"at_s": round(t["at"] - state.started_at, 3), "percent": t["percent"]} for t in state.traffic]


# --- rollback on demand --------------------------------------------------------------------------
def _rollback_target(
    spec: EnvironmentSpec, tables: dict[int, str], alias: Serving, to_version: str | None
) -> str:
    """The version a rollback goes to, or ReleaseRefused. A version that reads another table than
    the one the environment serves from (published before a restore replaced it) is never a
    target: it would serve the replaced table's items (`restore --undo` is the way back to it)."""
    function, table = spec.names.function, spec.names.table
    published = sorted(tables)
    listed = ", ".join(str(v) for v in published) or "none"

    def reads_another(version: int) -> bool:
        return tables.get(version, "") not in ("", table)

    if to_version is not None:
        if int(to_version) not in published:
            raise ReleaseRefused(
                f"version {to_version} of {function} does not exist; published versions: {listed}"
            )
        if reads_another(int(to_version)):
            raise ReleaseRefused(
                f"version {to_version} of {function} reads table {tables[int(to_version)]}, which a restore "
                f"replaced with {table}: roll back to a version published since, or undo the restore"
            )
        return to_version
    if alias.weights:
        return str(alias.version)
    current = int(alias.version) if alias.version.isdigit() else None
    earlier = [v for v in published if current is None or v < current]
    if not earlier:
        raise ReleaseRefused(
            f"no version of {function} before {alias.version} is still published (published: {listed})"
        )
    usable = [v for v in earlier if not reads_another(v)]
    if not usable:
        raise ReleaseRefused(
            f"every version of {function} before {alias.version} reads a table a restore replaced "
            f"(the environment serves from {table}): undo the restore to go back to it"
        )
    return str(usable[-1])


def rollback(
    spec: EnvironmentSpec,
    clients: AwsClients,
    to_version: str | None = None,
    *,
    on_event: EventSink | None = None,
    clock: Callable[[], float] = time.time,
) -> ReleaseResult:
    """Point the alias at `to_version` (default: the version before the one it serves) at 100%.

    Refuses (ReleaseRefused) a version that is not published, before any change. An alias that is
    split (a release died mid-bake) goes back to its primary version when no version is named.
    """
    if to_version is not None and (not isinstance(to_version, str) or not _VERSION.match(to_version)):
        raise ReleaseInputError([Problem("to_version", to_version, "a published version number, such as 3")])
    started = time.monotonic()
    before = clients.recorder.snapshot()
    function = spec.names.function
    alias = _get_alias(clients, function)
    target = _rollback_target(spec, _version_tables(clients, function), alias, to_version)
    now = clock()
    state = ReleaseState("", from_version=alias.version, to_version=target, started_at=now)
    if alias.version == target and not alias.weights:
        state.phase, state.percent = UNCHANGED, 100
    else:
        clients.client("lambda").update_alias(
            FunctionName=function,
            Name=LIVE_ALIAS,
            FunctionVersion=target,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        state.phase, state.percent = ROLLED_BACK, 100
        state.reason = f"rollback on demand from {_describe_split(alias)} to version {target}"
        state.traffic.append({"at": now, "percent": 100})
    if on_event is not None:
        on_event(ReleaseEvent(state, state.reason or f"version {target} already serves 100%: nothing to do"))
    return ReleaseResult(
        operation="rollback",
        environment=spec.suffix,
        outcome=state.phase,
        from_version=alias.version,
        to_version=target,
        code_sha256=None,
        traffic=_relative(state),
        reason=state.reason,
        checks=[],
        calls=clients.recorder.since(before),
        wall_s=time.monotonic() - started,
        state=state,
    )
