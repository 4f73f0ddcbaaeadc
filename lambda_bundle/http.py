"""Building API Gateway proxy responses, with the CORS headers on every one of them (R-FN-8).

All responses leave through ``render`` so that no code path (errors and 204 included) can
forget the CORS headers a browser needs to read the answer (R-API-3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from json.encoder import encode_basestring_ascii
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
    """Compact JSON in which every number keeps the digits DynamoDB stored.

    DynamoDB hands numbers back as Decimal. Going through ``float`` (the json module's only
    way to write a non-integral number) would round a stored 38-digit number to 17 digits on
    its way back, so this small encoder writes Decimals digit for digit: integral ones as
    plain integers, the rest in Decimal's own notation (``0.25``, ``1E-130``), both valid
    JSON numbers. Sets only exist if something other than this API wrote the item; a sorted
    list keeps the answer valid JSON instead of turning it into a 500.
    """
    parts: list[str] = []
    _encode(payload, parts)
    return "".join(parts)


def _encode(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(encode_basestring_ascii(value))
    elif isinstance(value, Decimal):
        parts.append(_decimal_text(value))
    elif isinstance(value, Mapping):
        _encode_object(value, parts)
    elif isinstance(value, (list, tuple)):
        _encode_array(value, parts)
    elif isinstance(value, (set, frozenset)):
        _encode_array(sorted(value, key=str), parts)
    elif value is None or isinstance(value, (bool, int, float)):
        parts.append(json.dumps(value))
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode_object(value: Mapping[Any, Any], parts: list[str]) -> None:
    parts.append("{")
    for index, (key, element) in enumerate(value.items()):
        if index:
            parts.append(",")
        parts.append(encode_basestring_ascii(str(key)))
        parts.append(":")
        _encode(element, parts)
    parts.append("}")


def _encode_array(value: Sequence[Any], parts: list[str]) -> None:
    parts.append("[")
    for index, element in enumerate(value):
        if index:
            parts.append(",")
        _encode(element, parts)
    parts.append("]")


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    return str(int(value)) if value == value.to_integral_value() else str(value)
