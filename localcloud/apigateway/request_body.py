"""The body of an execute-api request, read within the REST API payload quota."""

from __future__ import annotations

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request

# REST API "Payload size: 10 MB" (API Gateway quotas, limits.html), counted in binary megabytes as
# Lambda's 6 MB payload quota is.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


BODY_READ_CHUNK = 64 * 1024


class PayloadTooLarge(Exception):
    """The request body is over the payload limit (declared, or found while reading)."""


class IncompleteBody(Exception):
    """The request body could not be read whole: the client went away, or its framing is broken."""


def read_body(request: Request, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """The request body, read in full only when it is within ``limit``.

    A declared ``Content-Length`` over the limit is refused before anything is read. A body of unknown
    length (chunked) is read up to ``limit + 1`` bytes, enough to know it is too large, and no more:
    what the client still sends is never held in memory.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(f"Content-Length {declared} is over the payload limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= limit:
            chunk = request.stream.read(min(BODY_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (ClientDisconnected, OSError, ValueError) as exc:
        expected = f" of {declared}" if declared is not None else ""
        raise IncompleteBody(
            f"request body incomplete after {size}{expected} bytes ({_reason(exc)})"
        ) from exc
    if size > limit:
        raise PayloadTooLarge(f"chunked body is over the payload limit of {limit} bytes")
    return b"".join(chunks)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientDisconnected):
        return "the client disconnected"
    return str(exc) or type(exc).__name__
