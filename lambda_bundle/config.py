"""Settings from the function's environment variables.

Every accessor reads ``os.environ`` when it is called rather than at import time: Lambda
never changes the environment of a running process, but tests do, and one warm process
must not keep serving a value captured before the test set it.
"""

from __future__ import annotations

import logging
import os

DEFAULT_INDEX_NAME = "byCreatedAt"
DEFAULT_LOG_LEVEL = "INFO"


class ConfigError(RuntimeError):
    """The function was deployed without a setting it cannot work without."""


def table_name() -> str:
    value = os.environ.get("TABLE_NAME", "").strip()
    if not value:
        raise ConfigError("environment variable TABLE_NAME is not set")
    return value


def index_name() -> str:
    return os.environ.get("INDEX_NAME", "").strip() or DEFAULT_INDEX_NAME


def environment() -> str | None:
    return os.environ.get("ENVIRONMENT", "").strip() or None


def log_level() -> int:
    """A misspelt LOG_LEVEL falls back to INFO: logging must never be why a request fails."""
    name = os.environ.get("LOG_LEVEL", "").strip().upper() or DEFAULT_LOG_LEVEL
    level = logging.getLevelNamesMapping().get(name)
    return level if isinstance(level, int) else logging.INFO


def cors_allow_origins() -> tuple[str, ...]:
    """Trailing slashes are dropped because a browser's Origin header never carries one."""
    raw = os.environ.get("CORS_ALLOW_ORIGINS", "*")
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    return origins or ("*",)
