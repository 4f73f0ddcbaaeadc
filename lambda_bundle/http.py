"""Building API Gateway proxy responses, with the CORS headers on every one of them (R-FN-8).

All responses leave through ``render`` so that no code path (errors and 204 included) can
forget the CORS headers a browser needs to read the answer (R-API-3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ALLOW_HEADERS = "Content-Type,X-Amz-Date,Authorization,X-Api-Key"
ALLOW_METHODS = "GET,POST,PUT,DELETE,OPTIONS"


@dataclass(frozen=True)
class Reply:
    """What a route answers, before the transport headers are added."""

    status: int
    payload: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def cors_headers(origin: str | None, allowed: Sequence[str]) -> dict[str, str]:
    """Echo an allowed Origin; otherwise name the first allowed one so the browser refuses.

    ``Vary: Origin`` is needed whenever the answer depends on the request's Origin, or a
    shared cache could hand one origin's answer to another.
    """
    headers = {
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
    }
    if "*" in allowed:
        headers["Access-Control-Allow-Origin"] = "*"
    else:
        headers["Access-Control-Allow-Origin"] = origin if origin in allowed else allowed[0]
        headers["Vary"] = "Origin"
    return headers


def error_reply(
    status: int, message: str, request_id: str, headers: Mapping[str, str] | None = None
) -> Reply:
    return Reply(status, {"message": message, "requestId": request_id}, dict(headers or {}))


def render(reply: Reply, cors: Mapping[str, str]) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "X-Content-Type-Options": "nosniff",
        **cors,
        **reply.headers,
    }
    body = "" if reply.payload is None or reply.status == 204 else to_json(reply.payload)
    return {"statusCode": reply.status, "headers": headers, "body": body, "isBase64Encoded": False}


def to_json(payload: Any) -> str:
    return json.dumps(payload, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    """DynamoDB hands numbers back as Decimal: integral ones go out as ints, the rest as floats.

    Sets only exist if something other than this API wrote the item; a list keeps the
    answer valid JSON instead of turning it into a 500.
    """
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
