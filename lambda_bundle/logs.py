"""Structured logging: one JSON object per line, each carrying the request's ids (R-FN-10).

The function logs through its own ``lambda_bundle`` logger with a handler that writes to
the current ``sys.stdout`` and does not propagate, so the Lambda runtime's root handler
cannot add a second, plain-text copy of each line. Per-request fields (request ids, method,
path) live in a context variable bound by the handler, so every line of a request carries
them without each call site repeating them.

Request headers are never logged; as a second line of defence any field named like a
credential (``x-api-key``, ``authorization``) is redacted wherever it appears.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from . import config

LOGGER_NAME = "lambda_bundle"
REDACTED = "[redacted]"
SECRET_FIELDS = frozenset({"x-api-key", "apikey", "api_key", "authorization"})

_bound: ContextVar[dict[str, Any]] = ContextVar("lambda_bundle_log_fields", default={})  # noqa: B039
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6]
            + "Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(_bound.get())
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRS and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(_redact(entry), default=str)


class _StdoutHandler(logging.StreamHandler):
    """Resolves ``sys.stdout`` at every write, so output follows whoever replaced it (tests)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def configure() -> logging.Logger:
    """Install the JSON handler once per process and apply LOG_LEVEL on every call."""
    logger = get_logger()
    if not any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(config.log_level())
    return logger


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = _bound.set({**_bound.get(), **{key: value for key, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED if _is_secret(key) else _redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(item) for item in value]
    return value


def _is_secret(name: Any) -> bool:
    return str(name).lower() in SECRET_FIELDS
