"""Token buckets (API Gateway throttling: a steady rate and a burst) and usage-plan quotas."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Hashable


class TokenBucket:
    """Starts full with ``burst`` tokens, refills ``rate`` tokens per second up to ``burst``;
    a request passes when it can take a whole token."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = max(0.0, float(rate))
        self.capacity = max(0.0, float(burst))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Throttles:
    """Buckets by key. The limits are part of the key, so changing a limit starts a fresh bucket."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Hashable, float, float], TokenBucket] = {}
        self._quotas: dict[Hashable, tuple[Hashable, int]] = {}

    def allow(self, key: Hashable, rate: float, burst: float) -> bool:
        full_key = (key, float(rate), float(burst))
        with self._lock:
            bucket = self._buckets.get(full_key)
            if bucket is None:
                bucket = self._buckets[full_key] = TokenBucket(rate, burst)
            return bucket.take()

    def within_quota(self, key: Hashable, limit: int, period: str, offset: int = 0) -> bool:
        """Count one request against a usage-plan quota (``limit`` per DAY, WEEK or MONTH, UTC)."""
        window = _window(period, offset)
        with self._lock:
            seen_window, count = self._quotas.get(key, (None, 0))
            if seen_window != window:
                count = 0
            if count >= limit:
                self._quotas[key] = (window, count)
                return False
            self._quotas[key] = (window, count + 1)
            return True

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._quotas.clear()


def _window(period: str, offset: int) -> Hashable:
    now = dt.datetime.now(dt.UTC)
    period = (period or "DAY").upper()
    if period == "WEEK":
        shifted = now - dt.timedelta(days=offset)
        year, week, _ = shifted.isocalendar()
        return ("WEEK", year, week)
    if period == "MONTH":
        shifted = now - dt.timedelta(days=offset)
        return ("MONTH", shifted.year, shifted.month)
    return ("DAY", now.date())
