"""Fidelity fix for the Resource Groups Tagging API: a read while resources are being made.

moto 5.2.5 answers ``GetResources`` (and ``GetTagKeys``/``GetTagValues``) by walking the live
tables of every taggable service in Python. When another request adds a log group, a role or a
queue meanwhile, the walk ends with ``RuntimeError: dictionary changed size during iteration``:
a 500 in the local cloud, an exception in ``mock_aws``. The engine meets it on an environment's
first apply, where the KMS key looks for an orphan key by its tags while the other resources are
being made. AWS answers the read, which may or may not include a resource made meanwhile
(https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html).
The fix keeps the walk from being interrupted: while it runs, Python's switch interval is a
second, so no other thread of the process (a request of the local cloud, an engine's worker) runs
in the middle of it unless the walk itself blocks, which it does not. A table that changed anyway
(a switch asked for before the walk began) is walked again, from the start: a first page only (a
later page continues a walk moto keeps, which cannot be restarted), at most ``ATTEMPTS`` times.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.resourcegroupstaggingapi.models import ResourceGroupsTaggingAPIBackend

from localcloud.registry import around, fixer

_fix = fixer(__name__)

ATTEMPTS = 8
UNINTERRUPTED_S = 1.0

_SWITCHING = threading.Lock()


@contextmanager
def uninterrupted() -> Iterator[None]:
    """No switch to another thread for up to ``UNINTERRUPTED_S`` (one walk at a time)."""
    with _SWITCHING:
        before = sys.getswitchinterval()
        sys.setswitchinterval(max(before, UNINTERRUPTED_S))
        try:
            yield
        finally:
            sys.setswitchinterval(before)


def changed_under_the_walk(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and "changed size during iteration" in str(exc)


@_fix(
    "tagging-read-while-resources-change",
    "GetResources, GetTagKeys and GetTagValues fail with a 500 'dictionary changed size during "
    "iteration' when another request makes a resource of any service while they walk.",
    "They answer; a resource made meanwhile may or may not be in the answer.",
)
def _fix_walk_again() -> None:
    """Wraps ``ResourceGroupsTaggingAPIBackend.get_resources``, ``get_tag_keys`` and
    ``get_tag_values``: a first page whose walk met a changed table is walked again."""

    @around(ResourceGroupsTaggingAPIBackend, "get_resources", "get_tag_keys", "get_tag_values")
    def walk_again(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(ATTEMPTS):
            try:
                with uninterrupted():
                    return orig(self, *args, **kwargs)
            except RuntimeError as exc:
                continuing = bool(kwargs.get("pagination_token") or (args and args[0]))
                if continuing or not changed_under_the_walk(exc) or attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
