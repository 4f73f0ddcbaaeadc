"""The per-request context of the execute-api handler chain, and how a handler refuses a request.

Also the request's ids: the ``x-amz-apigw-id`` and the X-Ray trace header, set in the environ when the
request arrives and read by the proxy event and the answer.
"""

from __future__ import annotations

import random
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request

from localcloud.apigateway.auth_results import Grant
from localcloud.apigateway.routing import Route
from localcloud.handler import RAW_HEADERS

# Per-request ids, set in the environ when the request arrives and used by the event and the answer.
APIGW_ID = "localcloud.apigw_id"
TRACE_ID = "localcloud.trace_id"


def new_trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


TRACE_ROOT = re.compile(r"(?:^|;)\s*Root=1-[0-9a-f]{8}-[0-9a-f]{24}(?:;|$)")


def trace_header(sent: str | None) -> str:
    """The request's trace: the client's own when it sent one with a valid Root, as X-Ray propagates
    it; a new Root otherwise."""
    if sent and TRACE_ROOT.search(sent):
        return sent
    return new_trace_id()


def raw_headers(request: Request) -> list[tuple[str, str]]:
    """The header fields as the client sent them (``handler.RAW_HEADERS``), or, when the request did
    not come through the local cloud's handler, werkzeug's view of them."""
    raw = request.environ.get(RAW_HEADERS)
    if raw is not None:
        return list(raw)
    return list(request.headers.items())


def new_apigw_id() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=15)) + "="


@dataclass
class RequestContext:
    """One execute-api request as the handler chain learns about it, step by step.

    Each handler of the chain (``localcloud.apigateway.handlers``) reads what the ones before it
    found and adds its own finding; a field is None until the step that finds it has run.
    """

    request: Request
    request_id: str
    api_id: str = ""
    stage_name: str = ""
    path: str = "/"
    backend: Any = None
    api: Any = None
    stage: Any = None
    snapshot: dict[str, Any] | None = None
    body: bytes = b""
    route: Route | None = None
    method: dict[str, Any] = field(default_factory=dict)
    grant: Grant | None = None
    api_key: Any = None
    integration: dict[str, Any] = field(default_factory=dict)

    @property
    def verb(self) -> str:
        return self.request.method.upper()

    @property
    def resource_path(self) -> str:
        return self.route.resource["path"] if self.route is not None else ""


class GatewayError(Exception):
    """A handler's refusal: the gateway answers the gateway response ``kind`` (GATEWAY_ERRORS)."""

    def __init__(self, kind: str, body: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.body = body
