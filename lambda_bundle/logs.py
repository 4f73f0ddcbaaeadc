"""Structured logging: one JSON object per line, each carrying the request's ids (R-FN-10).

The JSON lines come from the Powertools for AWS Lambda `Logger` (vendored into the zip by the
artifact build), configured to keep the line shape this function has always written: a UTC
`timestamp` ending in `Z`, `level`, `message`, `logger`, the request's bound fields and any
`extra` fields, `exception` for a traceback. Powertools' own default keys that nobody reads here
(`location`, `service`, `sampling_rate`) are left out.

The logger is the `lambda_bundle` logger with a handler that writes to the current
``sys.stdout`` and does not propagate, so the Lambda runtime's root handler cannot add a second,
plain-text copy of each line. Per-request fields (request ids, method, path) are Powertools'
thread-safe keys, held in a context variable bound by the handler, so every line of a request
carries them without each call site repeating them.

Request headers are never logged; as a second line of defence any field named like a
credential (``x-api-key``, ``authorization``) is redacted wherever it appears (the serializer
the formatter is given).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Only the logging subpackage: the package's __init__ also loads Metrics and Tracer, which are
# cheap (measured, see docs/performance.md), but nothing else (no event handler, no validation).
from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from . import config

LOGGER_NAME = "lambda_bundle"
REDACTED = "[redacted]"
SECRET_FIELDS = frozenset({"x-api-key", "apikey", "api_key", "authorization"})
# The keys every line starts with, in this order (Powertools adds bound and extra keys after).
LINE_KEYS = ["timestamp", "level", "message", "logger"]
# `%F` is Powertools' millisecond directive; with utc=True the time is UTC, hence the `Z`.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%FZ"


class JsonFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with the function's line shape and redaction."""

    def __init__(self) -> None:
        super().__init__(
            json_serializer=_serialize,
            datefmt=TIMESTAMP_FORMAT,
            utc=True,
            log_record_order=LINE_KEYS,
            serialize_stacktrace=False,
            # `logger` (the record's name) is filled in by `format`; no `location` key.
            logger=None,
            location=None,
        )

    def format(self, record: logging.LogRecord) -> str:
        self.log_format["logger"] = record.name
        return super().format(record)


class _StdoutHandler(logging.StreamHandler):
    """Resolves ``sys.stdout`` at every write, so output follows whoever replaced it (tests)."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_logger: Logger | None = None


def get_logger() -> logging.Logger:
    """The standard-library logger behind the Powertools Logger (call sites log through it)."""
    return logging.getLogger(LOGGER_NAME)


def powertools_logger() -> Logger:
    """The Powertools Logger, created once per process with the JSON handler."""
    global _logger
    if _logger is None:
        _logger = Logger(
            service=LOGGER_NAME,
            logger_handler=_StdoutHandler(),
            logger_formatter=JsonFormatter(),
        )
        _logger.remove_keys(["service", "sampling_rate"])  # Powertools' defaults, not our line shape
        get_logger().propagate = False
    return _logger


def configure() -> logging.Logger:
    """Install the JSON handler once per process and apply LOG_LEVEL on every call."""
    powertools_logger().setLevel(logging.getLevelName(config.log_level()))
    return get_logger()


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields to every line logged inside the block (a context variable: one per request)."""
    logger = powertools_logger()
    present = {key: value for key, value in fields.items() if value is not None}
    before = dict(logger.thread_safe_get_current_keys())
    logger.thread_safe_append_keys(**present)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(present))
        restored = {key: before[key] for key in present if key in before}
        if restored:
            logger.thread_safe_append_keys(**restored)


def _serialize(entry: dict[str, Any]) -> str:
    return json.dumps(_redact(entry), default=str)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: REDACTED if _is_secret(key) else _redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(item) for item in value]
    return value


def _is_secret(name: Any) -> bool:
    return str(name).lower() in SECRET_FIELDS
