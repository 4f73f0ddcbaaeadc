"""The portal's own health: liveness, readiness, and the worker heartbeat readiness reads.

- Liveness (``/healthz``) says the web process answers, and nothing else: no database, no Redis.
  An orchestrator restarts a process that fails it, so it must not fail because a dependency did.
- Readiness (``/readyz``) says whether the portal can do its work now: the database answers, the
  Celery broker answers, and a worker was seen within ``ENVPORT_WORKER_STALE_SECONDS``. Each Redis
  read is bounded by ``ENVPORT_HEALTH_TIMEOUT_SECONDS`` (the database by its own connect timeout);
  each check reports its latency; nothing secret (no URL, no exception text, which may carry one)
  appears in the answer.
- Workers write a heartbeat every ``ENVPORT_WORKER_HEARTBEAT_SECONDS`` (``start_heartbeat``, started
  by ``portal/celery.py`` when a worker is ready): a member of a Redis sorted set on the broker's
  Redis, or a file under ``VAR_DIR/celery/heartbeats`` with the filesystem broker.

docs/operations.md describes the endpoints for operators.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import connection

log = logging.getLogger("portal.health")

HEARTBEAT_KEY = "envport:workers:heartbeat"  # sorted set: worker name -> epoch seconds of its last beat
_SAFE_NAME = re.compile(r"[^A-Za-z0-9@._-]")


@dataclass(frozen=True)
class Check:
    """One readiness check: whether it passed, how long it took, and a short safe explanation."""

    name: str
    ok: bool
    latency_ms: float
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 1), "detail": self.detail}


# -- worker heartbeats --------------------------------------------------------------------------------
class Heartbeats(Protocol):
    def beat(self, worker: str, now: float) -> None: ...

    def seen_since(self, since: float) -> dict[str, float]:
        """Workers that beat at or after ``since``: name -> time of the last beat."""
        ...


class RedisHeartbeats:
    """Heartbeats in one sorted set on the broker's Redis; old members are pruned on each beat."""

    def __init__(self, url: str, timeout_s: float) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def beat(self, worker: str, now: float) -> None:
        pipe = self.client.pipeline()
        pipe.zadd(HEARTBEAT_KEY, {worker: now})
        pipe.zremrangebyscore(HEARTBEAT_KEY, "-inf", now - 24 * 3600)  # workers gone for a day
        pipe.execute()

    def seen_since(self, since: float) -> dict[str, float]:
        found: Any = self.client.zrangebyscore(HEARTBEAT_KEY, since, "+inf", withscores=True)
        return {(name.decode() if isinstance(name, bytes) else str(name)): float(at) for name, at in found}


class FileHeartbeats:
    """Heartbeats as files (one per worker, its modification time the last beat), for the
    filesystem broker: every process is on this machine."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def beat(self, worker: str, now: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / _SAFE_NAME.sub("_", worker)[:200]
        path.touch()
        os.utime(path, (now, now))

    def seen_since(self, since: float) -> dict[str, float]:
        if not self.folder.is_dir():
            return {}
        seen = {}
        for entry in os.scandir(self.folder):
            at = entry.stat().st_mtime
            if at >= since:
                seen[entry.name] = at
        return seen


def heartbeats() -> Heartbeats:
    """The heartbeat store beside the configured broker."""
    url = str(settings.CELERY_BROKER_URL)
    if url.startswith(("redis://", "rediss://")):
        return RedisHeartbeats(url, settings.ENVPORT_HEALTH_TIMEOUT_SECONDS)
    return FileHeartbeats(Path(settings.VAR_DIR) / "celery" / "heartbeats")


class HeartbeatThread(threading.Thread):
    """Beats for one worker every ``interval`` seconds until stopped; a failed beat is logged."""

    def __init__(self, worker: str, interval: float, store: Heartbeats | None = None) -> None:
        super().__init__(name="envport-heartbeat", daemon=True)
        self.worker = worker
        self.interval = interval
        self.store = store
        self.stopped = threading.Event()

    def run(self) -> None:
        store = self.store or heartbeats()
        while not self.stopped.is_set():
            try:
                store.beat(self.worker, time.time())
            except Exception as exc:
                log.warning(
                    "worker heartbeat not written (%s); readiness will report no worker", type(exc).__name__
                )
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()


_THREAD: HeartbeatThread | None = None


def start_heartbeat(worker: str) -> HeartbeatThread:
    """Start this process's heartbeat (once); called when a Celery worker is ready."""
    global _THREAD
    if _THREAD is None or not _THREAD.is_alive():
        _THREAD = HeartbeatThread(worker, settings.ENVPORT_WORKER_HEARTBEAT_SECONDS)
        _THREAD.start()
    return _THREAD


def stop_heartbeat() -> None:
    global _THREAD
    if _THREAD is not None:
        _THREAD.stop()
        _THREAD = None


# -- readiness checks ---------------------------------------------------------------------------------
def _timed(name: str, probe: Callable[[], tuple[bool, str]]) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as exc:  # the class only: a message may carry a URL with a password
        ok, detail = False, f"failed: {type(exc).__name__}"
    return Check(name, ok, (time.perf_counter() - started) * 1000, detail)


def check_database() -> Check:
    def probe() -> tuple[bool, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True, f"{connection.vendor} answers"

    return _timed("database", probe)


def check_broker() -> Check:
    url = str(settings.CELERY_BROKER_URL)

    def probe() -> tuple[bool, str]:
        if url.startswith(("redis://", "rediss://")):
            import redis

            timeout = settings.ENVPORT_HEALTH_TIMEOUT_SECONDS
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            try:
                client.ping()
            finally:
                client.close()
            return True, "redis answers"
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
        if folder.is_dir() and os.access(folder, os.W_OK):
            return True, "filesystem queue writable"
        return False, "filesystem queue folder missing or not writable"

    return _timed("broker", probe)


def check_worker(store: Heartbeats | None = None) -> Check:
    stale = settings.ENVPORT_WORKER_STALE_SECONDS

    def probe() -> tuple[bool, str]:
        seen = (store or heartbeats()).seen_since(time.time() - stale)
        if not seen:
            return False, f"no worker seen in the last {stale:g} s"
        newest = time.time() - max(seen.values())
        return True, f"{len(seen)} worker(s) seen in the last {stale:g} s, the latest {newest:.0f} s ago"

    return _timed("worker", probe)


def readiness() -> tuple[bool, list[Check]]:
    """Every readiness check, in order; ready when all passed."""
    checks = [check_database(), check_broker(), check_worker()]
    return all(check.ok for check in checks), checks
