"""Long-polls may hold only a share of the web server's threads.

`GET /api/v1/runs/N/?wait=S` holds a server thread while it waits for the run to end. The server
has few: gunicorn's gthread worker runs `--threads` (8, Dockerfile and docker-compose.yml) per
process, and a request that finds them all busy queues behind them. 16 waits of 30 s from one
viewer token held both processes' 16 threads, and the console's login page took 28.6 s.

So waits are slots, counted in each process: at most ENVPORT_API_MAX_WAITERS at a time (half the
process's threads by default), at most ENVPORT_API_MAX_WAITERS_PER_TOKEN of them for one token (or
signed-in user). A wait past either bound is not queued: the request answers at once with the
run as it is, and the `Envport-Wait` header says why it did not wait (the client polls again).
Counting in the process, not in Redis, is what the bound is about (this process's threads) and
cannot leak a slot when a process dies.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

WAIT_HEADER = "Envport-Wait"


class WaitSlots:
    """Counted slots for waits: one process's, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    @property
    def held(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def _refusal(self, holder: str) -> str | None:
        total, each = settings.ENVPORT_API_MAX_WAITERS, settings.ENVPORT_API_MAX_WAITERS_PER_TOKEN
        if self._held[holder] >= each:
            return f"skipped: this token already waits {self._held[holder]} times here (at most {each})"
        if sum(self._held.values()) >= total:
            return f"skipped: {total} requests already wait in this server process (at most {total})"
        return None

    @contextmanager
    def hold(self, holder: str) -> Iterator[str | None]:
        """A slot for `holder` while the block runs; yields None, or why there is none (then the
        caller answers at once)."""
        with self._lock:
            refusal = self._refusal(holder)
            if refusal is None:
                self._held[holder] += 1
        try:
            yield refusal
        finally:
            if refusal is None:
                with self._lock:
                    self._held[holder] -= 1
                    if self._held[holder] <= 0:
                        del self._held[holder]


SLOTS = WaitSlots()
