"""Turning an API Gateway REST proxy event (payload format 1.0) into a request object.

The parser never raises: a malformed event must still get a proper JSON answer with CORS
headers and a request id, so every field is optional here and judged by the router.
The body is decoded lazily, by ``json_object_body``, because only POST and PUT need it and
its failures are client errors (400/413) that only those routes should report.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import BadRequest, PayloadTooLarge

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    method: str = ""
    resource: str | None = None
    path: str = ""
    public_path: str = ""
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    is_base64: bool = False
    api_request_id: str | None = None

    def header(self, name: str) -> str | None:
        """Header names are case-insensitive in HTTP, but API Gateway keeps the client's casing."""
        return self.headers.get(name.lower())


def from_event(event: Any) -> Request:
    if not isinstance(event, Mapping):
        return Request()
    context = _mapping(event.get("requestContext"))
    path = _text(event.get("path")) or _text(context.get("resourcePath")) or ""
    body = event.get("body")
    return Request(
        method=(_text(event.get("httpMethod")) or _text(context.get("httpMethod")) or "").upper(),
        resource=_text(event.get("resource")),
        path=path,
        # requestContext.path is the path the client used (stage or base path included), so a
        # Location header built from it resolves from the client's side.
        public_path=_text(context.get("path")) or path,
        path_parameters=_strings(event.get("pathParameters")),
        query=_strings(event.get("queryStringParameters")),
        headers={name.lower(): value for name, value in _strings(event.get("headers")).items()},
        body=body if isinstance(body, str) else None,
        is_base64=event.get("isBase64Encoded") is True,
        api_request_id=_text(context.get("requestId")),
    )


def json_object_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, with floats as Decimal because DynamoDB refuses floats.

    The size limit is checked on the decoded bytes, before parsing, so an oversized body
    costs no parsing work.
    """
    raw = _body_bytes(request)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is {len(raw)} bytes; at most {MAX_BODY_BYTES} bytes are allowed")
    if not raw.strip():
        raise BadRequest("request body is required and must be a JSON object")
    try:
        value = json.loads(raw.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise BadRequest("request body must be UTF-8 encoded JSON") from exc
    except RecursionError as exc:
        raise BadRequest("request body is nested too deeply") from exc
    except ValueError as exc:
        raise BadRequest(f"request body is not valid JSON: {_json_problem(exc)}") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"request body must be a JSON object, not {_json_type(value)}")
    return value


def _body_bytes(request: Request) -> bytes:
    if request.body is None:
        return b""
    if not request.is_base64:
        return request.body.encode("utf-8", errors="surrogatepass")
    try:
        return base64.b64decode(request.body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("request body is marked base64-encoded but is not valid base64") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> dict[str, str]:
    return {str(k): v for k, v in _mapping(value).items() if isinstance(v, str)}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
