"""Failures a client caused or can act on, each carrying the HTTP status it maps to (R-FN-8).

Anything that is not an ``ApiError`` is unexpected and becomes a generic 500 in the
handler, so only messages written here ever reach a client.
"""

from __future__ import annotations

from collections.abc import Iterable


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405

    def __init__(self, method: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        super().__init__(
            f"method {method or '(none)'} is not allowed on this resource; allowed: {', '.join(allowed)}",
            {"Allow": ",".join(allowed)},
        )


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


def item_not_found(item_id: str) -> NotFound:
    return NotFound(f"item '{shorten(item_id)}' not found")


def shorten(text: str, limit: int = 100) -> str:
    """Client input echoed in a message is cut short so a huge id cannot bloat the answer."""
    return text if len(text) <= limit else text[:limit] + "..."
