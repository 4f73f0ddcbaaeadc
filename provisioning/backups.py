"""An environment's backups: take one on demand, list what exists and the point-in-time window.

Two kinds of backup belong to an environment, told apart by name (``Names``):

- on demand: ``{base}-ondemand-{UTC stamp}``, taken by ``take_backup`` (``manage.py backup``);
- pre-teardown: ``{base}-teardown-{UTC stamp}``, taken by the table's destroy path (R-OPS-4).

Backups are listed by name across the account's backups of the region (``ListBackups`` without a
table filter), not by the environment's table: the table may be gone (torn down) or replaced (a
restore makes a new physical table), and its backups still belong to the environment. The name
is matched exactly (``envport-dev1-...`` never matches ``envport-dev10-...``).

DynamoDB's own backups take no tags: ``CreateBackup`` has no ``Tags`` and ``TagResource`` names
tables (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateBackup.html), so
the name is what ties a backup to its environment; each listed backup reports the environment's
tags that the name stands for.

The point-in-time window is the table's ``DescribeContinuousBackups``
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeContinuousBackups.html):
earliest and latest restorable time when recovery is on, "off" otherwise, "table gone" when there is
no table. Reused by the restore: ``take_backup(..., table=)`` and ``point_in_time_window(..., table=)``
take the physical table when it is not the environment's first one.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .aws import AwsClients, error_code
from .names import Names

__all__ = [
    "ON_DEMAND",
    "PRE_TEARDOWN",
    "Backup",
    "BackupError",
    "BackupListing",
    "PointInTimeWindow",
    "backup_kind",
    "list_backups",
    "on_demand_backup_name",
    "point_in_time_window",
    "take_backup",
]

ON_DEMAND = "on-demand"
PRE_TEARDOWN = "pre-teardown"
_KIND_OF_WORD = {"ondemand": ON_DEMAND, "teardown": PRE_TEARDOWN}
_STAMP = "%Y%m%d%H%M%S"
# Bounds of one listing: ListBackups answers at most 100 a page; 50 pages is 5,000 backups in the
# account and region, far more than the environments of one portal keep.
PAGE_LIMIT = 100
MAX_PAGES = 50
BACKUP_TIMEOUT_S = 900.0
_GONE = ("ResourceNotFoundException", "TableNotFoundException")


class BackupError(RuntimeError):
    """A backup could not be taken or listed; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    arn: str
    name: str
    kind: str  # on-demand / pre-teardown
    table_name: str
    created_at: dt.datetime
    status: str  # CREATING / AVAILABLE / DELETED
    size_bytes: int | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "kind": self.kind,
            "table_name": self.table_name,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "status": self.status,
            "size_bytes": self.size_bytes,
            "tags": dict(self.tags),
        }


@dataclass(frozen=True)
class PointInTimeWindow:
    """The table's restorable window; ``status`` is enabled, disabled or table-gone."""

    table_name: str
    status: str
    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None
    recovery_period_days: int | None = None

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    def describe(self) -> str:
        if self.status == "table-gone":
            return f"no table {self.table_name}: no point-in-time window"
        if not self.enabled:
            return "PITR off"
        assert self.earliest is not None and self.latest is not None
        return (
            f"{self.earliest.isoformat(timespec='seconds')} to {self.latest.isoformat(timespec='seconds')}"
            f" ({self.recovery_period_days} days kept)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "table_name": self.table_name,
            "status": self.status,
            "earliest": self.earliest.isoformat(timespec="seconds") if self.earliest else None,
            "latest": self.latest.isoformat(timespec="seconds") if self.latest else None,
            "recovery_period_days": self.recovery_period_days,
            "summary": self.describe(),
        }


@dataclass(frozen=True)
class BackupListing:
    environment: str
    on_demand: list[Backup]
    pre_teardown: list[Backup]
    point_in_time: PointInTimeWindow

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "on_demand": [b.to_dict() for b in self.on_demand],
            "pre_teardown": [b.to_dict() for b in self.pre_teardown],
            "point_in_time": self.point_in_time.to_dict(),
        }


def on_demand_backup_name(names: Names, now: dt.datetime | None = None) -> str:
    """``{base}-ondemand-{UTC stamp}``: within CreateBackup's 3-255 characters of [a-zA-Z0-9_.-]."""
    moment = now or dt.datetime.now(dt.UTC)
    return f"{names.on_demand_backup_prefix}-{moment.strftime(_STAMP)}"


def backup_kind(names: Names, backup_name: str) -> str | None:
    """on-demand / pre-teardown when the name is one of this environment's backups, else None."""
    match = re.fullmatch(rf"{re.escape(names.base)}-(ondemand|teardown)-\d{{14}}", backup_name)
    return _KIND_OF_WORD[match.group(1)] if match else None


def _to_backup(summary: dict[str, Any], kind: str, tags: dict[str, str]) -> Backup:
    created = summary.get("BackupCreationDateTime")
    if not isinstance(created, dt.datetime):
        created = dt.datetime.fromtimestamp(float(created or 0), dt.UTC)
    return Backup(
        arn=summary["BackupArn"],
        name=summary["BackupName"],
        kind=kind,
        table_name=summary.get("TableName", ""),
        created_at=created.astimezone(dt.UTC),
        status=summary.get("BackupStatus", "AVAILABLE"),
        size_bytes=summary.get("BackupSizeBytes"),
        tags=dict(tags),
    )


def take_backup(
    clients: AwsClients,
    names: Names,
    *,
    tags: dict[str, str] | None = None,
    table: str | None = None,
    wait: bool = True,
    timeout_s: float = BACKUP_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    now: dt.datetime | None = None,
) -> Backup:
    """An on-demand backup of the environment's table (``table``: another physical table of it),
    waited for until AVAILABLE unless ``wait`` is false. Raises BackupError with what to do."""
    ddb = clients.client("dynamodb")
    table_name = table or names.table
    name = on_demand_backup_name(names, now)
    try:
        details = ddb.create_backup(TableName=table_name, BackupName=name)["BackupDetails"]
    except Exception as exc:
        code = error_code(exc)
        if code in _GONE:
            raise BackupError(
                f"no table {table_name} to back up: the environment is not provisioned or was torn down"
            ) from None
        if code in ("BackupInUseException", "LimitExceededException", "ResourceInUseException"):
            raise BackupError(
                f"DynamoDB refused a backup of {table_name} now ({code}): another backup or a table "
                "operation is in progress; try again when it has finished"
            ) from None
        raise
    arn = details["BackupArn"]
    status = details.get("BackupStatus", "CREATING")
    deadline = time.monotonic() + timeout_s
    while wait and status != "AVAILABLE":
        if time.monotonic() > deadline:
            raise BackupError(f"backup {name} of {table_name} was not AVAILABLE after {timeout_s:.0f} s")
        sleep(2.0)
        status = ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
    return _to_backup({**details, "TableName": table_name, "BackupStatus": status}, ON_DEMAND, tags or {})


def _all_backups(clients: AwsClients) -> list[dict[str, Any]]:
    ddb = clients.client("dynamodb")
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Limit": PAGE_LIMIT}
    for _page in range(MAX_PAGES):
        page = ddb.list_backups(**kwargs)
        summaries.extend(page.get("BackupSummaries", []))
        last = page.get("LastEvaluatedBackupArn")
        if not last:
            return summaries
        kwargs["ExclusiveStartBackupArn"] = last
    raise BackupError(
        f"more than {PAGE_LIMIT * MAX_PAGES} backups in the region: delete old ones, then list again"
    )


def point_in_time_window(clients: AwsClients, names: Names, *, table: str | None = None) -> PointInTimeWindow:
    table_name = table or names.table
    try:
        described = clients.client("dynamodb").describe_continuous_backups(TableName=table_name)
    except Exception as exc:
        if error_code(exc) in _GONE:
            return PointInTimeWindow(table_name, "table-gone")
        raise
    pitr = described["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return PointInTimeWindow(table_name, "disabled")
    return PointInTimeWindow(
        table_name,
        "enabled",
        earliest=_utc(pitr.get("EarliestRestorableDateTime")),
        latest=_utc(pitr.get("LatestRestorableDateTime")),
        recovery_period_days=int(pitr.get("RecoveryPeriodInDays") or 35),
    )


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def list_backups(
    clients: AwsClients,
    names: Names,
    *,
    tags: dict[str, str] | None = None,
    table: str | None = None,
) -> BackupListing:
    """The environment's on-demand and pre-teardown backups (newest first) and its table's
    point-in-time window, whether the table exists or not."""
    found: dict[str, list[Backup]] = {ON_DEMAND: [], PRE_TEARDOWN: []}
    for summary in _all_backups(clients):
        kind = backup_kind(names, summary.get("BackupName", ""))
        if kind is not None and summary.get("BackupStatus") != "DELETED":
            found[kind].append(_to_backup(summary, kind, tags or {}))
    for backups in found.values():
        backups.sort(key=lambda b: (b.created_at, b.arn), reverse=True)
    return BackupListing(
        environment=names.suffix,
        on_demand=found[ON_DEMAND],
        pre_teardown=found[PRE_TEARDOWN],
        point_in_time=point_in_time_window(clients, names, table=table),
    )
