"""Fidelity fix for KMS: concurrent requests never fail one another.

moto 5.2.5 keeps a region's keys in a plain dict and walks it in Python for most reads by alias
(``DescribeKey``/``CreateAlias``/``ListAliases`` on an alias name, ``alias_exists``). A service that
encrypts with its AWS managed key creates that key on first use
(https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-cmk): DynamoDB's
``CreateTable`` with server-side encryption adds ``alias/aws/dynamodb`` to the table. When that
happens on one thread while another request walks the table (the engine converges an
environment's KMS key and its DynamoDB table at the same time), the walk ends with
``RuntimeError: dictionary changed size during iteration`` and KMS answers a 500 that AWS never
does. The fix gives each backend (and each key's alias table) a dict whose walks go over a copy
taken at once: a key another request adds meanwhile is simply not in that walk, as with AWS's
eventually consistent reads (https://docs.aws.amazon.com/kms/latest/developerguide/accessing-kms.html,
"Eventual consistency").
"""

from __future__ import annotations

from _collections_abc import dict_items, dict_values
from collections.abc import Callable, Iterator
from typing import Any

from moto.kms.models import Key, KmsBackend

from localcloud.registry import around, fixer

_fix = fixer(__name__)


class SnapshotDict(dict[str, Any]):
    """A dict whose iteration, ``values()`` and ``items()`` go over a copy made in one step (a
    C-level copy, which no other Python thread can interleave with), never over the live table."""

    def __iter__(self) -> Iterator[str]:
        return iter(dict.copy(self))

    def values(self) -> dict_values[str, Any]:
        return dict.copy(self).values()

    def items(self) -> dict_items[str, Any]:
        return dict.copy(self).items()


@_fix(
    "kms-concurrent-requests",
    "A request walking a region's key table (an alias lookup, ListAliases) fails with a 500 "
    "'dictionary changed size during iteration' when another request adds a key meanwhile, such as "
    "DynamoDB's CreateTable making the AWS managed key alias/aws/dynamodb.",
    "Concurrent requests succeed; a read made while another request adds a key may not see it yet.",
)
def _fix_concurrent_key_table() -> None:
    """Wraps ``KmsBackend.__init__`` (reset runs it again) and ``Key.__init__``: their tables of keys
    and aliases become ``SnapshotDict``s."""

    @around(KmsBackend, "__init__")
    def backend_init(orig: Callable[..., None], self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self.keys = SnapshotDict(self.keys)

    @around(Key, "__init__")
    def key_init(orig: Callable[..., None], self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        self.aliases = SnapshotDict(self.aliases)
