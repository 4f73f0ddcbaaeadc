"""What a restore reads and rewrites in a table: item counts, a sample read back, the difference
from the live table, and masked attributes (stable pseudonyms).

Everything is bounded: a scan reads at most ``MAX_SCAN_ITEMS`` items (a bigger table is compared
on its first ``MAX_SCAN_ITEMS`` and the report says so), a sample is at most ``SAMPLE`` items.

Masking replaces each named attribute's value with ``mask:`` and the first 24 hex digits of the
HMAC-SHA256 of the value under a per-clone key (RFC 2104): the same value gives the same pseudonym
everywhere in the clone (two items with one e-mail still share it), a different clone gives
different ones, and the value cannot be read back without the key. A value that is a pseudonym
already is left as it is, so a masking pass that was interrupted and run again changes nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from .aws import AwsClients

MAX_SCAN_ITEMS = 200_000
SAMPLE = 5
MASK_PREFIX = "mask:"
KEY_ATTRIBUTE = "id"

__all__ = [
    "MASK_PREFIX",
    "DataCheck",
    "TableDiff",
    "check_table",
    "diff_tables",
    "inspect",
    "mask_table",
    "pseudonym",
]


@dataclass(frozen=True)
class DataCheck:
    """The restored table read back: its item count and whether a sample of it reads back whole."""

    table: str
    items: int
    sampled: int
    sample_ok: bool
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "items": self.items,
            "sampled": self.sampled,
            "sample_ok": self.sample_ok,
            "truncated": self.truncated,
        }


@dataclass(frozen=True)
class TableDiff:
    """The restored table against the live one: counts, and a sample of the items that differ."""

    restored_items: int
    live_items: int
    only_restored: int
    only_live: int
    changed: int
    same: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "restored_items": self.restored_items,
            "live_items": self.live_items,
            "only_restored": self.only_restored,
            "only_live": self.only_live,
            "changed": self.changed,
            "same": self.same,
            "sample": self.sample,
            "truncated": self.truncated,
        }

    def describe(self) -> str:
        return (
            f"{self.restored_items} items restored, {self.live_items} live: {self.only_restored} only in "
            f"the restore, {self.only_live} only live, {self.changed} changed, {self.same} the same"
        )


def _scan(clients: AwsClients, table: str, **kwargs: Any) -> tuple[list[dict[str, Any]], bool]:
    """Up to MAX_SCAN_ITEMS raw items (and whether there were more), strongly consistent."""
    ddb = clients.client("dynamodb")
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True, **kwargs}
    while True:
        page = ddb.scan(**params)
        found.extend(page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            return found, False
        if len(found) >= MAX_SCAN_ITEMS:
            return found[:MAX_SCAN_ITEMS], True
        params["ExclusiveStartKey"] = last


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {json.dumps(item.get(KEY_ATTRIBUTE), sort_keys=True): item for item in items}


def check_table(
    clients: AwsClients, table: str, scanned: tuple[list[dict[str, Any]], bool] | None = None
) -> DataCheck:
    """Count the items, then read a sample back by key (GetItem, consistent) and compare;
    `scanned`: the table's scan already made (by `inspect`)."""
    items, truncated = scanned or _scan(clients, table)
    ddb = clients.client("dynamodb")
    sample = items[:SAMPLE]
    ok = True
    for item in sample:
        got = ddb.get_item(TableName=table, Key={KEY_ATTRIBUTE: item[KEY_ATTRIBUTE]}, ConsistentRead=True)
        ok = ok and got.get("Item") == item
    return DataCheck(table, len(items), len(sample), ok, truncated)


def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """An item as `{name: value}` for a person to read (DynamoDB's type wrappers dropped)."""
    if item is None:
        return None
    return {
        name: next(iter(value.values())) if isinstance(value, dict) else value for name, value in item.items()
    }


def inspect(clients: AwsClients, restored: str, live: str) -> tuple[DataCheck, TableDiff]:
    """The restored table checked and compared with the live one, each table scanned once."""
    scanned = _scan(clients, restored)
    return check_table(clients, restored, scanned), diff_tables(clients, restored, live, scanned)


def diff_tables(
    clients: AwsClients, restored: str, live: str, scanned: tuple[list[dict[str, Any]], bool] | None = None
) -> TableDiff:
    """The two tables compared item by item (by `id`), with up to SAMPLE differing items."""
    new_items, new_more = scanned or _scan(clients, restored)
    old_items, old_more = _scan(clients, live)
    new, old = _by_id(new_items), _by_id(old_items)
    only_new = [k for k in new if k not in old]
    only_old = [k for k in old if k not in new]
    changed = [k for k in new if k in old and new[k] != old[k]]
    sample = [
        {"id": json.loads(k).get("S", k), "restored": _plain(new.get(k)), "live": _plain(old.get(k))}
        for k in (changed + only_new + only_old)[:SAMPLE]
    ]
    same = len(new) - len(only_new) - len(changed)
    return TableDiff(
        len(new), len(old), len(only_new), len(only_old), len(changed), same, sample, new_more or old_more
    )


def pseudonym(key: bytes, value: Any) -> str:
    """`mask:` + 24 hex digits of HMAC-SHA256(key, the value's canonical JSON)."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return MASK_PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest()[:24]


def _masked(item: dict[str, Any], attributes: tuple[str, ...], key: bytes) -> dict[str, Any] | None:
    """The item with each named attribute replaced by its pseudonym, or None if nothing changes."""
    changed = dict(item)
    for name in attributes:
        value = item.get(name)
        if value is None:
            continue
        if isinstance(value, dict) and str(value.get("S", "")).startswith(MASK_PREFIX):
            continue
        changed[name] = {"S": pseudonym(key, value)}
    return None if changed == item else changed


def mask_table(clients: AwsClients, table: str, attributes: tuple[str, ...], key: bytes) -> int:
    """Replace the named attributes of every item with stable pseudonyms; returns items changed."""
    if not attributes:
        return 0
    ddb = clients.client("dynamodb")
    items, truncated = _scan(clients, table)
    if truncated:
        raise RuntimeError(
            f"table {table} holds more than {MAX_SCAN_ITEMS} items: too many to mask in one run"
        )
    count = 0
    for item in items:
        masked = _masked(item, attributes, key)
        if masked is not None:
            ddb.put_item(TableName=table, Item=masked)
            count += 1
    return count
