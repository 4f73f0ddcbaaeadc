"""What an execute-api authorizer decides (a grant or a denial), the cache of its results, and
the reading of its identity source: shared by the Lambda, Cognito and AWS_IAM authorizers.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("localcloud.gateway")

HEADER_SOURCE = "method.request.header."
QUERY_SOURCE = "method.request.querystring."
MAX_CACHE_ENTRIES = 10_000

# The knowledge center (api-gateway-403-error-lambda-authorizer) shows "... with an explicit deny"; API
# Gateway has since been seen (2026) to add IAM's "in an identity-based policy", which is kept here.
EXPLICIT_DENY_BODY = (
    '{"Message":"User is not authorized to access this resource with an explicit deny in an '
    'identity-based policy"}'
)
IMPLICIT_DENY_BODY = '{"Message":"User is not authorized to access this resource"}'


@dataclass(frozen=True)
class Grant:
    """The request may go on; what reaches the proxy event's ``requestContext``."""

    authorizer: dict[str, Any] | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    usage_identifier_key: str | None = None


@dataclass(frozen=True)
class Denial:
    """The request is refused with gateway response ``kind``; ``body`` when AWS's varies."""

    kind: str
    body: str | None = None


GRANTED = Grant()


class ResultCache:
    """Authorizer results by (API, stage, authorizer, identity), each kept for its TTL in seconds."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self, key: tuple[str, ...]) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple[str, ...], value: Any, ttl: float) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= MAX_CACHE_ENTRIES:
                for stale in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                    del self._entries[stale]
                if len(self._entries) >= MAX_CACHE_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (now + ttl, value)


def header_name(identity_source: str | None) -> str | None:
    """The header a TOKEN or Cognito authorizer reads (``method.request.header.Authorization``)."""
    source = (identity_source or "").split(",")[0].strip()
    if source.startswith(HEADER_SOURCE):
        return source[len(HEADER_SOURCE) :]
    return None


def token_matches(token: str, expression: str | None) -> bool:
    """``identityValidationExpression``: the whole token must match the regular expression."""
    if not expression:
        return True
    try:
        return re.fullmatch(expression, token) is not None
    except re.error:
        logger.warning("identityValidationExpression %r is not a valid regular expression", expression)
        return False
