"""A tiny HTTP client on the standard library, for verification and health probes.

It returns every status as data (urllib raises on 4xx/5xx, and a 403 is an expected answer
here), measures latency, and never follows redirects silently.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int | None  # None when no answer came (connection refused, timeout)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    latency_ms: float = 0.0
    error: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode() or "null")
        except (ValueError, UnicodeDecodeError):
            return None

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 10.0,
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    started = time.perf_counter()
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            payload = resp.read()
            status, raw_headers = resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        status, raw_headers = exc.code, exc.headers
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Response(None, latency_ms=(time.perf_counter() - started) * 1000, error=str(reason))
    latency = (time.perf_counter() - started) * 1000
    return Response(status, {k.lower(): v for k, v in raw_headers.items()}, payload, latency)


REQUEST_ID_HEADER = "x-amzn-requestid"  # API Gateway's request id; the function logs it as requestId


def request_id_of(resp: Response) -> str | None:
    """The request id an answer carried, if it looks like one (a header is outside input: bounded)."""
    value = resp.header(REQUEST_ID_HEADER).strip()
    return value if value and len(value) <= 64 and value.replace("-", "").isalnum() else None
