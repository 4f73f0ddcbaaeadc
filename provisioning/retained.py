"""Tables a restore replaced: kept, tagged and deletion-protected for a retention period, then swept.

A cut-over (``provisioning.restore``) leaves the table it replaced in place with three tags,
``RetainedUntil`` (ISO-8601 UTC), ``ReplacedBy`` (the table that serves instead) and ``ReplacedAt``,
and with deletion protection on, so ``restore --undo`` can swap back within the period. They are
found by name: an environment's tables are ``{base}-items`` and ``{base}-items-r{UTC stamp}``
(``Names.is_own_table``); every one that is not the current table is listed.

``sweep_expired`` deletes those whose period is over (deletion protection lifted first:
DeleteTable refuses a protected table,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html#WorkingWithTables.Basics.DeletionProtection);
``delete_all`` is the teardown's: every retained table, backed up first when it holds items.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .aws import AwsClients, tag_map, tolerating_absent, unless_absent
from .names import Names

RETAINED_UNTIL, REPLACED_BY, REPLACED_AT = "RetainedUntil", "ReplacedBy", "ReplacedAt"
DEFAULT_RETENTION_DAYS = 7
MAX_RETENTION_DAYS = 35
MAX_TABLE_PAGES = 100  # ListTables answers 100 names a page: 10,000 tables in the region at most
_STAMP = "%Y%m%d%H%M%S"

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "RetainedTable",
    "delete_all",
    "list_retained",
    "retain",
    "sweep_expired",
]


@dataclass(frozen=True)
class RetainedTable:
    name: str
    status: str
    items: int | None
    retained_until: dt.datetime | None
    replaced_by: str
    replaced_at: dt.datetime | None
    deletion_protection: bool

    def expired(self, now: dt.datetime) -> bool:
        return self.retained_until is not None and self.retained_until <= now

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "items": self.items,
            "retained_until": _iso(self.retained_until),
            "replaced_by": self.replaced_by,
            "replaced_at": _iso(self.replaced_at),
            "deletion_protection": self.deletion_protection,
        }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _parse(text: str | None) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def own_tables(clients: AwsClients, names: Names) -> list[str]:
    """Every physical table of the environment that exists, by name (ListTables, at most
    MAX_TABLE_PAGES pages; names come in order, so the pages stop past `{base}-items-r...`)."""
    ddb = clients.client("dynamodb")
    found: list[str] = []
    beyond = f"{names.base_table}-s"  # after every `{base_table}-r{stamp}`
    kwargs: dict[str, Any] = {"Limit": 100}
    for _page in range(MAX_TABLE_PAGES):
        page = ddb.list_tables(**kwargs)
        found.extend(n for n in page.get("TableNames", []) if names.is_own_table(n))
        last = page.get("LastEvaluatedTableName")
        if not last or last >= beyond:
            break
        kwargs["ExclusiveStartTableName"] = last
    return sorted(found)


def describe_retained(clients: AwsClients, name: str) -> RetainedTable | None:
    ddb = clients.client("dynamodb")
    table = unless_absent(lambda: ddb.describe_table(TableName=name)["Table"], "ResourceNotFoundException")
    if table is None:
        return None
    tags = tag_map(ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", []))
    return RetainedTable(
        name=name,
        status=str(table.get("TableStatus", "")),
        items=table.get("ItemCount"),
        retained_until=_parse(tags.get(RETAINED_UNTIL)),
        replaced_by=tags.get(REPLACED_BY, ""),
        replaced_at=_parse(tags.get(REPLACED_AT)),
        deletion_protection=bool(table.get("DeletionProtectionEnabled", False)),
    )


def list_retained(clients: AwsClients, names: Names) -> list[RetainedTable]:
    """The environment's tables other than the current one, newest replacement first."""
    found = [describe_retained(clients, n) for n in own_tables(clients, names) if n != names.table]
    kept = [t for t in found if t is not None and t.status != "DELETING"]
    return sorted(kept, key=lambda t: t.replaced_at or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)


def retain(
    clients: AwsClients, table: str, replaced_by: str, days: int, now: dt.datetime | None = None
) -> dt.datetime:
    """Tag `table` as retained until now + `days` and turn its deletion protection on."""
    moment = now or dt.datetime.now(dt.UTC)
    until = moment + dt.timedelta(days=days)
    ddb = clients.client("dynamodb")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    tags = {RETAINED_UNTIL: _iso(until), REPLACED_BY: replaced_by, REPLACED_AT: _iso(moment)}
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": str(v)} for k, v in tags.items()])
    ddb.update_table(TableName=table, DeletionProtectionEnabled=True)
    return until


def _delete(clients: AwsClients, table: RetainedTable) -> None:
    ddb = clients.client("dynamodb")
    with tolerating_absent("ResourceNotFoundException"):
        if table.deletion_protection:
            ddb.update_table(TableName=table.name, DeletionProtectionEnabled=False)
        ddb.delete_table(TableName=table.name)


def sweep_expired(clients: AwsClients, names: Names, now: dt.datetime | None = None) -> list[str]:
    """Delete the retained tables whose period is over; returns their names. A table without a
    RetainedUntil tag (not one a cut-over retained) is never swept."""
    moment = now or dt.datetime.now(dt.UTC)
    gone = []
    for table in list_retained(clients, names):
        if table.expired(moment):
            _delete(clients, table)
            gone.append(table.name)
    return gone


def delete_all(
    clients: AwsClients,
    names: Names,
    *,
    backup: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = 900.0,
) -> list[str]:
    """The teardown's: back up each retained table that holds items (`{base}-teardown-{stamp}`,
    as the table's own destroy does), then delete it. Returns the backups' ARNs."""
    ddb = clients.client("dynamodb")
    arns = []
    for table in list_retained(clients, names):
        if backup and ddb.scan(TableName=table.name, Limit=1, Select="COUNT").get("Count", 0):
            stamp = dt.datetime.now(dt.UTC).strftime(_STAMP)
            arn = ddb.create_backup(TableName=table.name, BackupName=f"{names.backup_prefix}-{stamp}")[
                "BackupDetails"
            ]["BackupArn"]
            deadline = time.monotonic() + timeout_s
            while ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"][
                "BackupStatus"
            ] != ("AVAILABLE"):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"backup of retained table {table.name} not AVAILABLE in {timeout_s:.0f} s"
                    )
                sleep(2.0)
            arns.append(arn)
        _delete(clients, table)
    return arns
