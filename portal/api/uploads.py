"""How many artifact builds one caller may run at once (the API's upload endpoint).

An upload can cost a pip run and an import check, seconds of a worker thread and a child
process each: a pipeline that sends many at once would hold the web server. So each token (or
signed-in user) holds at most `ENVPORT_API_MAX_CONCURRENT_UPLOADS` slots; past that the answer
is 429 (JSON, with Retry-After) at once, before the zip is read.

The count lives in the cache the throttle uses (Redis in production, shared by every web
process: INCR and DECR are atomic there). A slot is given back when the build ends, whatever
its outcome; the key expires after SLOT_TTL_S, so a process killed mid-build cannot hold a slot
for longer than the longest build (pip's wall clock) plus a margin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions

from portal.tokens.models import ApiToken
from provisioning.artifacts import PIP_TIMEOUT_S

SLOT_TTL_S = PIP_TIMEOUT_S + 300
RETRY_AFTER_S = 10


def holder(request: Any) -> str:
    """Whose slots an upload takes: its token's, else its signed-in user's."""
    if isinstance(request.auth, ApiToken):
        return f"token:{request.auth.pk}"
    return f"user:{request.user.pk}"


@contextmanager
def upload_slot(who: str) -> Iterator[None]:
    """Hold one of `who`'s upload slots for the block; Throttled (429) when all are taken."""
    limit = settings.ENVPORT_API_MAX_CONCURRENT_UPLOADS
    key = f"envport:uploads:{who}"
    cache.add(key, 0, timeout=SLOT_TTL_S)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=SLOT_TTL_S)
        count = 1
    try:
        if count > limit:
            raise exceptions.Throttled(
                wait=RETRY_AFTER_S,
                detail=f"{limit} artifact uploads of this token are being built; at most {limit} at a time",
            )
        yield
    finally:
        with suppress(ValueError):  # expired meanwhile: nothing left to give back
            cache.decr(key)
