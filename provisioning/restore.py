"""Restore an environment's table, and cut over to it like a release (issue 20, R-REC-1 and -2).

DynamoDB restores into a new table only (RestoreTableToPointInTime, RestoreTableFromBackup:
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery.Tutorial.html),
so a restore makes `{base}-items-r{UTC stamp}` and then moves the environment onto it:

1. restore (point in time, or a backup) into the new table and wait for it to be ACTIVE, as AWS
   makes one wait (the table is CREATING first);
2. bring it to the environment's specification with the table resource's own comparison and
   apply (encryption, point-in-time recovery, TTL, tags, deletion protection, the index): the
   restored table copies none of these but its keys, indexes and encryption
   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CreateBackup.html);
3. mask the named attributes of a clone (`restore_data.mask_table`);
4. verify it (item count, a sample read back) and compare it with the live table;
5. cut over like a release: grant the function's role the new table (a second inline policy, so
   the version that serves keeps its own grant), put the new name in `$LATEST`'s TABLE_NAME and
   publish a version, run the CRUD journey against that version before any traffic moves
   (`verify.verify_version`), move the `live` alias, then converge the role (the transitional
   policy goes), the alarms and the dashboard onto the new table;
6. keep the replaced table, tagged and deletion-protected, for the retention period
   (`provisioning.retained`).

A failure before the alias moves leaves the live table serving: `$LATEST` goes back to it, the
transitional grant is removed and a restored table is deleted (an undo's table is retained again).
A failure after the alias moved leaves the new table serving; running again finishes the move.
Every phase goes out through `on_event` as a serialisable `RestoreState` (like the release's
`ReleaseState`): called again with it, an interrupted restore (its worker killed) resumes from
the recorded phase, restores nothing twice and ends once.

An undo is the same cut-over onto the table the current one replaced (within its retention); a
clone restores another environment's table (same account and region) into this one's name.
Bad input is refused with every problem listed before any AWS call (`parse_request`).
Nothing here knows about Django; the clock and sleep are injectable.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import backups as backup_engine
from . import restore_data, retained
from .aws import AwsClients, CallCounts, error_code, tolerating_absent, unless_absent
from .checks import Check
from .engine import Engine
from .names import INDEX_PARTITION, INDEX_SORT, LIVE_ALIAS, RESTORED_TABLE_STAMP, TTL_ATTRIBUTE
from .resources import resources_for
from .resources.base import Context
from .resources.data_access import data_grants
from .spec import EnvironmentSpec, Problem, ProblemsError
from .verify import JOURNEY_PURPOSE, VERSION_JOURNEY_PREFIX, VerifyReport, verify_version

RESTORE, UNDO, CLONE = "restore", "undo", "clone"
OPERATIONS = (RESTORE, UNDO, CLONE)
MAX_AGE_DAYS = 35  # DynamoDB keeps at most 35 days of point-in-time recovery
MAX_MASKS = 16
MAX_TIME_TEXT = 64
MAX_ARN = 1024
LATEST = "latest"
# Attributes the table and its index are keyed on, and the TTL: masking them breaks the API.
UNMASKABLE = ("id", INDEX_PARTITION, INDEX_SORT, TTL_ATTRIBUTE)
MASK_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
BACKUP_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):table/(?P<table>[A-Za-z0-9_.-]{3,255})"
    r"/backup/[A-Za-z0-9.-]{1,64}$"
)
TRANSITION_POLICY_SUFFIX = "-restore-access"
_CUTOVER_KEYS = ("kms_key", "artifact_bucket", "function")
_FOLLOW_KEYS = ("kms_key", "function_role", "topic", "alarms", "dashboard")

# --- phases ---------------------------------------------------------------------------------------
STARTED, RESTORED, SPECCED, MASKED, CHECKED = "started", "restored", "specced", "masked", "checked"
GRANTED, PUBLISHED, VERIFIED, SWITCHED = "granted", "published", "verified", "switched"
FOLLOWED, DONE, FAILED = "followed", "done", "failed"
ORDER = (STARTED, RESTORED, SPECCED, MASKED, CHECKED, GRANTED, PUBLISHED, VERIFIED, SWITCHED, FOLLOWED, DONE)
TERMINAL = (DONE, FAILED)


class RestoreInputError(ProblemsError):
    """Every problem of a restore's input at once, found before any AWS call."""

    what = "restore"


class RestoreRefused(RuntimeError):
    """What exists forbids the restore (no recovery window, no such backup, nothing to undo);
    raised before anything is changed."""


@dataclass(frozen=True)
class RestoreRequest:
    """A validated restore: what to restore from, into which environment, masking what."""

    operation: str
    source: str  # the environment whose data is restored (itself, or a clone's source)
    source_table: str  # its current physical table
    to_time: dt.datetime | None = None
    backup: str | None = None  # a backup ARN, or "latest"
    masks: tuple[str, ...] = ()
    retention_days: int = retained.DEFAULT_RETENTION_DAYS

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["to_time"] = self.to_time.isoformat() if self.to_time else None
        data["masks"] = list(self.masks)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreRequest:
        when = data.get("to_time")
        return cls(
            operation=data["operation"],
            source=data["source"],
            source_table=data["source_table"],
            to_time=dt.datetime.fromisoformat(when) if when else None,
            backup=data.get("backup"),
            masks=tuple(data.get("masks") or ()),
            retention_days=int(data.get("retention_days") or retained.DEFAULT_RETENTION_DAYS),
        )

    def describe(self) -> str:
        if self.operation == UNDO:
            return "undo of the last restore"
        what = (
            f"backup {self.backup}"
            if self.backup
            else (
                f"{self.source} at {self.to_time.isoformat(timespec='seconds')}"
                if self.to_time
                else f"{self.source} at its latest restorable time"
            )
        )
        return f"{self.operation} from {what}" + (f", masking {', '.join(self.masks)}" if self.masks else "")


def parse_time(text: str, now: dt.datetime) -> tuple[dt.datetime | None, Problem | None]:
    """An ISO-8601 time with its offset (`2026-12-07T19:30:00Z`), no later than now and no earlier
    than 35 days ago."""
    allowed = (
        "an ISO-8601 time with its UTC offset, such as 2026-12-07T19:30:00Z, "
        f"within the last {MAX_AGE_DAYS} days"
    )
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TIME_TEXT:
        return None, Problem("to_time", str(text)[:MAX_TIME_TEXT], allowed)
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None, Problem("to_time", text, allowed)
    if when.tzinfo is None:
        return None, Problem("to_time", text, allowed + " (the offset is required: Z for UTC)")
    when = when.astimezone(dt.UTC)
    if when > now:
        return None, Problem("to_time", text, "a time in the past (" + allowed + ")")
    if when < now - dt.timedelta(days=MAX_AGE_DAYS):
        return None, Problem("to_time", text, allowed)
    return when, None


def _backup_problems(backup: str, source: EnvironmentSpec) -> list[Problem]:
    if backup == LATEST:
        return []
    allowed = (
        f"'latest', or the ARN of a backup of {source.suffix}'s table in {source.region} "
        "(manage.py backups lists them)"
    )
    if not isinstance(backup, str) or len(backup) > MAX_ARN:
        return [Problem("backup", str(backup)[:80] + "...", allowed)]
    found = BACKUP_ARN_RE.fullmatch(backup)
    if found is None:
        return [Problem("backup", backup, allowed)]
    if found.group("region") != source.region:
        return [Problem("backup", backup, f"a backup in {source.region} (cross-region restores are refused)")]
    if not source.names.is_own_table(found.group("table")):
        return [
            Problem("backup", backup, f"a backup of {source.suffix}'s table, not of {found.group('table')}")
        ]
    return []


def _mask_problems(masks: Any, operation: str) -> list[Problem]:
    if not masks:
        return []
    problems: list[Problem] = []
    if operation != CLONE:
        problems.append(Problem("mask", list(masks)[:3], "only with a clone (--from another environment)"))
    if not isinstance(masks, list | tuple) or len(masks) > MAX_MASKS:
        too_many = Problem("mask", f"{len(masks)} attributes", f"at most {MAX_MASKS} attribute names")
        return [*problems, too_many]
    for name in masks:
        if not isinstance(name, str) or not MASK_NAME_RE.fullmatch(name):
            problems.append(
                Problem(
                    "mask",
                    str(name)[:70],
                    "an attribute name of 1 to 64 letters, digits, _ . - (a letter or _ first)",
                )
            )
        elif name in UNMASKABLE:
            problems.append(
                Problem("mask", name, f"not a key, index or TTL attribute ({', '.join(UNMASKABLE)})")
            )
    if len(set(map(str, masks))) != len(masks):
        problems.append(Problem("mask", list(masks), "each attribute once"))
    return problems


def parse_request(
    spec: EnvironmentSpec,
    *,
    operation: str,
    source: EnvironmentSpec | None = None,
    to_time: str | None = None,
    backup: str | None = None,
    masks: Any = (),
    retention_days: Any = retained.DEFAULT_RETENTION_DAYS,
    now: dt.datetime | None = None,
) -> RestoreRequest:
    """Validate a restore's input, before any AWS call; raises RestoreInputError listing every problem."""
    moment = now or dt.datetime.now(dt.UTC)
    src = source or spec
    problems: list[Problem] = []
    if operation not in OPERATIONS:
        problems.append(Problem("operation", operation, "one of " + ", ".join(OPERATIONS)))
    if operation == CLONE and source is None:
        problems.append(Problem("from", None, "the environment to clone from"))
    if operation == CLONE and spec.stage == "prod":
        problems.append(
            Problem(
                "environment", spec.suffix, "a non-prod environment to clone into (prod's data is its own)"
            )
        )
    if operation == CLONE and src.suffix == spec.suffix:
        problems.append(Problem("from", src.suffix, "another environment than the one it clones into"))
    if src.region != spec.region:
        problems.append(
            Problem(
                "from",
                src.suffix,
                f"an environment in {spec.region} (it is in {src.region}; cross-region clones are refused)",
            )
        )
    if operation == UNDO and (to_time or backup or masks):
        problems.append(
            Problem(
                "undo", "with --to-time/--backup/--mask", "--undo alone: it swaps back to the replaced table"
            )
        )
    if to_time and backup:
        problems.append(Problem("to_time", to_time, "either --to-time or --backup, not both"))
    if operation == RESTORE and not (to_time or backup):
        problems.append(Problem("to_time", None, "--to-time T or --backup ARN|latest (what to restore)"))
    when = None
    if to_time:
        when, problem = parse_time(to_time, moment)
        problems.extend([problem] if problem else [])
    if backup:
        problems.extend(_backup_problems(backup, src))
    problems.extend(_mask_problems(masks, operation))
    if (
        isinstance(retention_days, bool)
        or not isinstance(retention_days, int)
        or not (1 <= retention_days <= retained.MAX_RETENTION_DAYS)
    ):
        problems.append(
            Problem(
                "retention_days",
                retention_days,
                f"a whole number of days from 1 to {retained.MAX_RETENTION_DAYS}",
            )
        )
    if spec.settings.network == "vpc":
        problems.append(
            Problem(
                "network",
                "vpc",
                "public: a restore in vpc mode would need the DynamoDB endpoint's policy moved too",
            )
        )
    if problems:
        raise RestoreInputError(problems)
    return RestoreRequest(
        operation, src.suffix, src.names.table, when, backup or None, tuple(masks or ()), int(retention_days)
    )


# --- state ----------------------------------------------------------------------------------------
@dataclass
class RestoreState:
    """Where a restore is, JSON-serialisable: what a resumed run picks up from."""

    request: dict[str, Any]
    new_table: str
    old_table: str
    phase: str = STARTED
    started_at: float = 0.0
    restore_time: str | None = None  # the point in time restored, or the backup's creation
    backup_arn: str | None = None
    version: str | None = None  # the version published for the new table
    from_version: str | None = None  # the version the alias served before
    check: dict[str, Any] = field(default_factory=dict)
    diff: dict[str, Any] = field(default_factory=dict)
    masked_items: int = 0
    mask_key: str = ""  # hex; dropped once the restore ends
    retained_until: str | None = None  # the old table's, once retained (an undo's new table's before)
    journeys: int = 0  # CRUD journeys started against the new table (a resumed one cleans up first)
    reason: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)  # [{"phase", "at"}]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RestoreState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def reached(self, phase: str) -> bool:
        return self.phase in ORDER and ORDER.index(self.phase) >= ORDER.index(phase)

    def public(self) -> dict[str, Any]:
        """The state without the mask key: what a report or an API answer shows."""
        data = self.to_dict()
        data.pop("mask_key", None)
        return data


@dataclass(frozen=True)
class RestoreEvent:
    state: RestoreState
    message: str
    checks: tuple[Check, ...] = ()


EventSink = Callable[[RestoreEvent], None]


@dataclass
class RestoreResult:
    environment: str
    operation: str
    outcome: str  # done / failed
    state: RestoreState
    checks: list[Check]
    calls: CallCounts
    wall_s: float
    timings: dict[str, float] = field(default_factory=dict)  # restore_s, cutover_s
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == DONE and self.error is None

    def to_dict(self) -> dict[str, Any]:
        st = self.state
        return {
            "environment": self.environment,
            "operation": self.operation,
            "outcome": self.outcome,
            "new_table": st.new_table,
            "old_table": st.old_table,
            "serving_table": st.new_table if st.reached(SWITCHED) else st.old_table,
            "restore_time": st.restore_time,
            "backup_arn": st.backup_arn,
            "version": st.version,
            "from_version": st.from_version,
            "check": st.check,
            "diff": st.diff,
            "masked_items": st.masked_items,
            "retained_until": st.retained_until,
            "reason": st.reason,
            "checks": [c.to_dict() for c in self.checks],
            "calls": self.calls.to_dict(),
            "wall_s": round(self.wall_s, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "error": self.error,
        }


def new_table_name(spec: EnvironmentSpec, now: dt.datetime) -> str:
    return spec.names.restored_table(now.astimezone(dt.UTC).strftime(RESTORED_TABLE_STAMP))


def with_table(spec: EnvironmentSpec, table: str) -> EnvironmentSpec:
    """The spec with `table` as its physical table (the first table is recorded as None)."""
    return replace(spec, table_name=None if table == spec.names.base_table else table)


def restore(
    spec: EnvironmentSpec,
    clients: AwsClients,
    request: RestoreRequest,
    state: RestoreState | None = None,
    *,
    on_event: EventSink | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    wait_timeout_s: float = 1800.0,
    journey: Callable[[EnvironmentSpec, AwsClients, str], VerifyReport] | None = None,
) -> RestoreResult:
    """Restore `request` into `spec`'s environment and cut over; resume from `state` if given.

    Raises RestoreRefused (before any change) when what exists forbids it. Returns the outcome
    (done, or failed with the reason: the live table still serves unless the alias had moved)."""
    run = _Restore(
        spec, clients, request, state, on_event, clock, sleep, wait_timeout_s, journey or verify_version
    )
    return run.run()


def transition_policy_name(spec: EnvironmentSpec) -> str:
    return f"{spec.names.base}{TRANSITION_POLICY_SUFFIX}"


def converge(
    spec: EnvironmentSpec, clients: AwsClients, keys: tuple[str, ...], sleep: Callable[[float], None]
) -> None:
    """Converge only the resources `keys` of `spec` (the table resource's, the function's...),
    with their own comparison and apply; raises with the failed steps' errors."""
    chosen = [r for r in resources_for(spec) if r.key in keys]
    result = Engine(spec, clients=clients, resources=chosen, workers=2, sleep=sleep).apply()
    if not result.ok:
        raise RuntimeError(f"could not bring {', '.join(keys)} to the specification: {result.error}")


def table_exists(clients: AwsClients, table: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = unless_absent(
        lambda: clients.client("dynamodb").describe_table(TableName=table)["Table"],
        "ResourceNotFoundException",
    )
    return found


def newest_backup(clients: AwsClients, source: EnvironmentSpec) -> backup_engine.Backup:
    listing = backup_engine.list_backups(clients, source.names)
    available = [b for b in listing.on_demand + listing.pre_teardown if b.status == "AVAILABLE"]
    if not available:
        raise RestoreRefused(
            f"{source.suffix} has no available backup; take one with manage.py backup {source.suffix}"
        )
    return max(available, key=lambda b: (b.created_at, b.arn))


def new_mask_key() -> str:
    return secrets.token_hex(32)


__all__ = [
    "CLONE",
    "DONE",
    "FAILED",
    "LATEST",
    "OPERATIONS",
    "RESTORE",
    "SWITCHED",
    "UNDO",
    "RestoreEvent",
    "RestoreInputError",
    "RestoreRefused",
    "RestoreRequest",
    "RestoreResult",
    "RestoreState",
    "new_table_name",
    "parse_request",
    "restore",
    "with_table",
]


# --- the run --------------------------------------------------------------------------------------
class _Restore:
    """One restore, undo or clone; `run()` drives it to an end and never leaves two tables half-live."""

    def __init__(
        self,
        spec: EnvironmentSpec,
        clients: AwsClients,
        request: RestoreRequest,
        state: RestoreState | None,
        on_event: EventSink | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        wait_timeout_s: float,
        journey: Callable[[EnvironmentSpec, AwsClients, str], VerifyReport],
    ) -> None:
        self.spec, self.clients, self.request = spec, clients, request
        self.state = None if state is None else RestoreState.from_dict(state.to_dict())
        self.on_event, self.clock, self.sleep = on_event, clock, sleep
        self.wait_timeout_s, self.journey = wait_timeout_s, journey
        self.ddb = clients.client("dynamodb")
        self.lam = clients.client("lambda")
        self.checks: list[Check] = []
        self.timings: dict[str, float] = {}
        self.error: str | None = None

    # --- driving -------------------------------------------------------------------------------
    def run(self) -> RestoreResult:
        started = time.monotonic()
        before = self.clients.recorder.snapshot()
        if self.state is None:
            self.state = self._start()  # RestoreRefused goes out: nothing was changed
        try:
            self._drive()
        except Exception as exc:
            self._abort(exc)
        st = self.state
        return RestoreResult(
            environment=self.spec.suffix,
            operation=self.request.operation,
            outcome=DONE if st.phase == DONE else FAILED,
            state=st,
            checks=list(self.checks),
            calls=self.clients.recorder.since(before),
            wall_s=time.monotonic() - started,
            timings=dict(self.timings),
            error=self.error,
        )

    def _drive(self) -> None:
        st = self._state()
        if st.phase in TERMINAL:
            self._emit(f"the {self.request.operation} had ended ({st.phase}); nothing more to do")
            return
        steps: list[tuple[str, Callable[[], None]]] = [
            (RESTORED, self._make_table),
            (SPECCED, self._to_spec),
            (MASKED, self._mask),
            (CHECKED, self._check),
            (GRANTED, self._grant),
            (PUBLISHED, self._publish),
            (VERIFIED, self._verify),
            (SWITCHED, self._switch),
            (FOLLOWED, self._follow),
            (DONE, self._retain_old),
        ]
        t0 = time.monotonic()
        for phase, step in steps:
            if not st.reached(phase):
                step()
            if phase == CHECKED:
                self.timings["restore_s"] = time.monotonic() - t0
                t0 = time.monotonic()
        self.timings["cutover_s"] = time.monotonic() - t0

    def _state(self) -> RestoreState:
        assert self.state is not None
        return self.state

    def _advance(self, phase: str, message: str, checks: tuple[Check, ...] = ()) -> None:
        st = self._state()
        st.phase = phase
        st.phases.append({"phase": phase, "at": round(self.clock(), 3)})
        if phase in TERMINAL:
            st.mask_key = ""
        self._emit(message, checks)

    def _emit(self, message: str, checks: tuple[Check, ...] = ()) -> None:
        if self.on_event is not None:
            self.on_event(RestoreEvent(self._state(), message, checks))

    # --- before any change: what to restore from -----------------------------------------------
    def _start(self) -> RestoreState:
        req, spec = self.request, self.spec
        current = spec.names.table
        alias = self._alias_version()
        if req.operation == UNDO:
            target = self._undo_target(current)
            state = RestoreState(req.to_dict(), target.name, current, started_at=self.clock())
            state.retained_until = target.retained_until.isoformat() if target.retained_until else None
        else:
            new = new_table_name(spec, dt.datetime.fromtimestamp(self.clock(), dt.UTC))
            state = RestoreState(req.to_dict(), new, current, started_at=self.clock())
            self._choose_source(state)
            state.mask_key = new_mask_key() if req.masks else ""
        state.from_version = alias
        self.state = state
        self._advance(STARTED, f"{req.describe()} into {state.new_table} started; {current} serves")
        return state

    def _alias_version(self) -> str:
        try:
            alias = self.lam.get_alias(FunctionName=self.spec.names.function, Name=LIVE_ALIAS)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise RestoreRefused(
                    f"function {self.spec.names.function} has no alias {LIVE_ALIAS!r}: provision "
                    f"{self.spec.suffix} first"
                ) from None
            raise
        if (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"):
            raise RestoreRefused(
                f"alias {LIVE_ALIAS!r} of {self.spec.names.function} is split by a release that is still "
                "going or died; finish or roll it back first"
            )
        return str(alias["FunctionVersion"])

    def _undo_target(self, current: str) -> retained.RetainedTable:
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        for table in retained.list_retained(self.clients, self.spec.names):
            if table.replaced_by == current and not table.expired(now) and table.status == "ACTIVE":
                return table
        raise RestoreRefused(
            f"nothing to undo for {self.spec.suffix}: no table replaced by {current} is retained "
            f"(a restore keeps the table it replaced for {retained.DEFAULT_RETENTION_DAYS} days by default)"
        )

    def _choose_source(self, state: RestoreState) -> None:
        """The backup or the point in time, checked against what exists (read calls only)."""
        req = self.request
        if req.backup:
            state.backup_arn, created = self._backup_source()
            state.restore_time = created
            return
        names = replace(self.spec.names, suffix=req.source, physical_table=req.source_table)
        window = backup_engine.point_in_time_window(self.clients, names, table=req.source_table)
        if not window.enabled or window.earliest is None or window.latest is None:
            raise RestoreRefused(
                f"{req.source}'s table {req.source_table} has no point-in-time window ({window.describe()}); "
                "restore from a backup instead (--backup ARN|latest)"
            )
        when = req.to_time or window.latest
        if not window.earliest <= when <= window.latest:
            raise RestoreRefused(
                f"{when.isoformat(timespec='seconds')} is outside {req.source}'s restorable window: "
                f"{window.describe()}"
            )
        state.restore_time = when.isoformat()

    def _backup_source(self) -> tuple[str, str]:
        req = self.request
        if req.backup == LATEST:
            source = replace(self.spec, suffix=req.source, table_name=None)
            chosen = newest_backup(self.clients, source)
            return chosen.arn, chosen.created_at.isoformat()
        assert req.backup is not None
        account = req.backup.split(":")[4]
        if account != self.clients.account_id:
            raise RestoreRefused(
                f"backup {req.backup} belongs to account {account}, not {self.clients.account_id}: "
                "a backup of another account cannot be restored here"
            )
        try:
            details = self.ddb.describe_backup(BackupArn=req.backup)["BackupDescription"]["BackupDetails"]
        except Exception as exc:
            if error_code(exc) in (
                "BackupNotFoundException",
                "ResourceNotFoundException",
                "ValidationException",
            ):
                raise RestoreRefused(
                    f"no backup {req.backup}; manage.py backups {req.source} lists them"
                ) from None
            raise
        if details.get("BackupStatus") != "AVAILABLE":
            raise RestoreRefused(f"backup {req.backup} is {details.get('BackupStatus')}, not AVAILABLE yet")
        created = details.get("BackupCreationDateTime")
        return req.backup, created.isoformat() if isinstance(created, dt.datetime) else str(created)

    # --- the new table ---------------------------------------------------------------------------
    def _make_table(self) -> None:
        st = self._state()
        if (st.backup_arn is None and st.restore_time is None) or table_exists(self.clients, st.new_table):
            self._wait_active(st.new_table)
            self._advance(RESTORED, f"{st.new_table} is there and ACTIVE")
            return
        # Encrypted with this environment's key from the start (a clone's source has its own key).
        sse = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": self._kms_key()}
        try:
            if st.backup_arn:
                self.ddb.restore_table_from_backup(
                    TargetTableName=st.new_table, BackupArn=st.backup_arn, SSESpecificationOverride=sse
                )
            else:
                assert st.restore_time is not None
                self.ddb.restore_table_to_point_in_time(
                    SourceTableName=self.request.source_table,
                    TargetTableName=st.new_table,
                    RestoreDateTime=dt.datetime.fromisoformat(st.restore_time),
                    SSESpecificationOverride=sse,
                )
        except Exception as exc:
            if error_code(exc) not in ("TableAlreadyExistsException", "ResourceInUseException"):
                raise
        self._wait_active(st.new_table)
        self._advance(
            RESTORED, f"restored into {st.new_table} (as it was at {st.restore_time}); it is ACTIVE"
        )

    def _kms_key(self) -> str:
        """The environment's key: its spec's, or the one envport manages under its alias."""
        if self.spec.kms_key_arn:
            return self.spec.kms_key_arn
        described = self.clients.client("kms").describe_key(KeyId=self.spec.names.kms_alias)
        return str(described["KeyMetadata"]["Arn"])

    def _wait_active(self, table: str) -> None:
        """CREATING until the restore is done, then ACTIVE with its indexes (bounded)."""
        deadline = time.monotonic() + self.wait_timeout_s
        delay = 0.2
        while True:
            found = table_exists(self.clients, table)
            indexes = (found or {}).get("GlobalSecondaryIndexes", [])
            if (
                found
                and found.get("TableStatus") == "ACTIVE"
                and all(i.get("IndexStatus") == "ACTIVE" for i in indexes)
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"table {table} was not ACTIVE after {self.wait_timeout_s:.0f} s")
            self.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _to_spec(self) -> None:
        st = self._state()
        converge(with_table(self.spec, st.new_table), self.clients, ("kms_key", "table"), self.sleep)
        self._advance(
            SPECCED,
            f"{st.new_table} brought to the specification (encryption, point-in-time recovery, TTL, "
            "tags, deletion protection, index)",
        )

    def _mask(self) -> None:
        st = self._state()
        if self.request.masks:
            key = bytes.fromhex(st.mask_key)
            st.masked_items = restore_data.mask_table(self.clients, st.new_table, self.request.masks, key)
            self._advance(MASKED, f"masked {', '.join(self.request.masks)} in {st.masked_items} items")
        else:
            self._advance(MASKED, "nothing to mask")

    def _check(self) -> None:
        st = self._state()
        check, diff = restore_data.inspect(self.clients, st.new_table, st.old_table)
        st.check, st.diff = check.to_dict(), diff.to_dict()
        verdict = Check(
            name=f"restored table {st.new_table}: sample read back",
            requirement="R-REC-1",
            passed=check.sample_ok,
            status=None,
            latency_ms=None,
            expected=f"{check.sampled} sampled items read back as scanned",
            found=f"{check.items} items; sample {'matches' if check.sample_ok else 'differs'}",
        )
        self.checks.append(verdict)
        if not check.sample_ok:
            raise RuntimeError(f"the sample of {st.new_table} did not read back as scanned")
        self._advance(CHECKED, f"{st.new_table}: {diff.describe()}", (verdict,))

    # --- the cut-over ----------------------------------------------------------------------------
    def _grant(self) -> None:
        st = self._state()
        ctx = Context(spec=with_table(self.spec, st.new_table), aws=self.clients)
        statements = [
            {"Sid": g.sid, "Effect": "Allow", "Action": list(g.actions), "Resource": list(g.resources)}
            for g in data_grants(ctx)
        ]
        self.clients.client("iam").put_role_policy(
            RoleName=self.spec.names.function_role,
            PolicyName=transition_policy_name(self.spec),
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
        self._advance(GRANTED, f"the function's role may use {st.new_table} too (until the cut-over ends)")

    def _publish(self) -> None:
        st = self._state()
        converge(with_table(self.spec, st.new_table), self.clients, _CUTOVER_KEYS, self.sleep)
        published = self.lam.publish_version(
            FunctionName=self.spec.names.function, Description=f"envport restore onto {st.new_table}"
        )
        st.version = str(published["Version"])
        self._advance(PUBLISHED, f"published version {st.version} reading {st.new_table}")

    def _verify(self) -> None:
        st = self._state()
        assert st.version is not None
        if st.journeys:  # a worker died mid-journey: its item would be served as the table's data
            self._drop_journey_items(st.new_table)
        st.journeys += 1
        self._emit(f"the CRUD journey against version {st.version}, before any traffic moves")
        report = self.journey(with_table(self.spec, st.new_table), self.clients, st.version)
        for _attempt in range(2):  # IAM may take seconds to apply the new grant
            if report.ok:
                break
            self.sleep(5.0)
            report = self.journey(with_table(self.spec, st.new_table), self.clients, st.version)
        self.checks.extend(report.checks)
        if not report.ok:
            failed = report.failed[0]
            raise RuntimeError(
                f"check {failed.name!r} against version {st.version} before any traffic moved: expected "
                f"{failed.expected}, found {failed.found}"
            )
        self._advance(
            VERIFIED, f"version {st.version} passed the CRUD journey on {st.new_table}", tuple(report.checks)
        )

    def _drop_journey_items(self, table: str) -> None:
        """Delete the items an interrupted journey left in the new table (the table serves no
        traffic yet, so only journeys wrote to it since the check)."""
        ddb = self.clients.client("dynamodb")
        params: dict[str, Any] = {
            "TableName": table,
            "ConsistentRead": True,
            "FilterExpression": "#p = :purpose OR begins_with(#n, :prefix)",
            "ExpressionAttributeNames": {"#p": "purpose", "#n": "name", "#k": restore_data.KEY_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":purpose": {"S": JOURNEY_PURPOSE},
                ":prefix": {"S": VERSION_JOURNEY_PREFIX},
            },
            "ProjectionExpression": "#k",
        }
        dropped = 0
        while True:
            page = ddb.scan(**params)
            for item in page.get("Items", []):
                ddb.delete_item(
                    TableName=table, Key={restore_data.KEY_ATTRIBUTE: item[restore_data.KEY_ATTRIBUTE]}
                )
                dropped += 1
            if not page.get("LastEvaluatedKey"):
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if dropped:
            self._emit(f"deleted {dropped} item(s) an interrupted journey left in {table}")

    def _switch(self) -> None:
        st = self._state()
        self.lam.update_alias(
            FunctionName=self.spec.names.function,
            Name=LIVE_ALIAS,
            FunctionVersion=st.version,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        self._advance(SWITCHED, f"alias {LIVE_ALIAS!r} moved to version {st.version}: {st.new_table} serves")

    def _follow(self) -> None:
        st = self._state()
        converge(with_table(self.spec, st.new_table), self.clients, _FOLLOW_KEYS, self.sleep)
        self._drop_transition_policy()
        self._advance(FOLLOWED, f"role, alarms and dashboard follow {st.new_table}")

    def _retain_old(self) -> None:
        st = self._state()
        until = retained.retain(
            self.clients,
            st.old_table,
            st.new_table,
            self.request.retention_days,
            dt.datetime.fromtimestamp(self.clock(), dt.UTC),
        )
        st.retained_until = until.isoformat(timespec="seconds")
        self._advance(DONE, f"{st.old_table} retained (deletion-protected) until {st.retained_until}")

    # --- failure ---------------------------------------------------------------------------------
    def _drop_transition_policy(self) -> None:
        iam = self.clients.client("iam")
        with tolerating_absent("NoSuchEntity"):
            iam.delete_role_policy(
                RoleName=self.spec.names.function_role, PolicyName=transition_policy_name(self.spec)
            )

    def _abort(self, exc: Exception) -> None:
        """Before the alias moved: the live table keeps serving, and what the run made goes.
        After: the new table serves; the error is recorded and a run again finishes the move."""
        st = self._state()
        self.error = f"{type(exc).__name__}: {exc}"
        if st.reached(SWITCHED):
            st.reason = f"{self.error} (after the cut-over: {st.new_table} serves; run again to finish)"
            self._emit(st.reason)
            return
        notes = [self.error]
        for what, undo in (
            ("$LATEST back on the live table", self._latest_back),
            ("transitional grant removed", self._drop_transition_policy),
            ("the new table removed", self._drop_new_table),
        ):
            try:
                undo()
            except Exception as cleanup:  # the live table serves either way; say what is left
                notes.append(f"{what} failed: {type(cleanup).__name__}: {cleanup}")
        st.reason = "; ".join(notes) + f"; {st.old_table} still serves"
        self._advance(FAILED, f"{self.request.operation} failed: {st.reason}")

    def _latest_back(self) -> None:
        if self._state().reached(GRANTED):
            converge(self.spec, self.clients, _CUTOVER_KEYS, self.sleep)

    def _drop_new_table(self) -> None:
        st = self._state()
        if self.request.operation == UNDO:  # the table undone to was retained: it stays retained
            if st.retained_until:
                until = dt.datetime.fromisoformat(st.retained_until)
                days = max(1, (until - dt.datetime.fromtimestamp(self.clock(), dt.UTC)).days)
                retained.retain(self.clients, st.new_table, st.old_table, days)
            return
        if table_exists(self.clients, st.new_table) is None:
            return
        self._wait_active(st.new_table)
        self.ddb.update_table(TableName=st.new_table, DeletionProtectionEnabled=False)
        self._wait_active(st.new_table)
        self.ddb.delete_table(TableName=st.new_table)
