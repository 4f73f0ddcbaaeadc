"""Which Celery broker to use: Redis where it answers, else kombu's filesystem transport.

Pure functions with no Django import, so settings can call them and tests can drive them. The
decision is made once, when settings load, with a short TCP connect (0.3 s): a fresh laptop
without Redis still runs workers and beat, and says so at start-up.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 0.3


@dataclass(frozen=True)
class BrokerChoice:
    url: str
    transport_options: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None  # set when the fallback was chosen; logged at worker/beat start-up

    @property
    def is_filesystem(self) -> bool:
        return self.url.startswith("filesystem:")


def redis_answers(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to the Redis URL's host and port opens within `timeout`."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return True  # not a plain Redis URL (sentinel, socket): trust it, don't guess
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def filesystem_options(var_dir: Path) -> dict[str, Any]:
    """One folder for messages in and out (a single host), created if missing."""
    base = var_dir / "celery"
    queue = base / "queue"
    processed = base / "processed"
    control = base / "control"
    for folder in (queue, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
    }


def choose_broker(
    *,
    explicit: str | None,
    redis_url: str,
    var_dir: Path,
    probe: Callable[[str], bool] = redis_answers,
) -> BrokerChoice:
    """An explicit CELERY_BROKER_URL always wins; else Redis if it answers; else the filesystem."""
    if explicit:
        options = filesystem_options(var_dir) if explicit.startswith("filesystem:") else {}
        return BrokerChoice(explicit, options)
    if probe(redis_url):
        return BrokerChoice(redis_url)
    options = filesystem_options(var_dir)
    warning = (
        f"Redis at {_safe(redis_url)} does not answer: using kombu's filesystem transport under "
        f"{options['data_folder_in']} instead. Workers and beat on this machine share it; start Redis "
        "(or set REDIS_URL / CELERY_BROKER_URL) for anything beyond one machine."
    )
    return BrokerChoice("filesystem://", options, warning)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
