"""API Gateway's control-plane quotas, enforced like AWS does (``--quotas aws``).

AWS answers a control-plane call beyond its account's quota with HTTP 429, ``x-amzn-ErrorType:
TooManyRequestsException``, a ``Retry-After`` header and ``{"message": "Too Many Requests"}``; the
quotas are per account and region, fixed, and every call also counts against the total of 10
requests per second with a burst of 40 ("Amazon API Gateway quotas",
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). moto never throttles
(``shared/notes/moto-5.2.5-next.md`` item 10), so this module is the whole model: a token bucket
per (account, region, quota class), the account taken from the request's access key as moto does.

``time_scale`` runs the quota clock faster (10 makes CreateRestApi's 1 per 3 s a 1 per 0.3 s), so
that tests and the benchmark see the same rule in less time; ``Retry-After`` is in scaled seconds.
Every control-plane call is recorded (time, account, region, operation, admitted) for tests and
the benchmark: ``GET /_localcloud/quotas``.

Not modelled: the edge-optimized CreateRestApi/ImportRestApi quota (1 per 30 s; regional is
modelled), data-plane (execute-api) account throttling (the stage and usage-plan limits are in
``handlers.py``), and other services' request rates.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from werkzeug.wrappers import Response

import awsquotas

# AWS's published quotas, from the one table the engine's rate limiter reads too (awsquotas/).
AWS_QUOTAS_PAGE = awsquotas.apigateway().source_url
# operation (or "*", the total) -> (requests, per seconds, burst)
QUOTAS: dict[str, tuple[float, float, float]] = awsquotas.apigateway().quotas

# (method, path) -> operation, for the operations that have a quota of their own.
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/restapis/?$"), "CreateRestApi"),
    ("PUT", re.compile(r"^/restapis/[^/]+/?$"), "PutRestApi"),
    ("DELETE", re.compile(r"^/restapis/[^/]+/?$"), "DeleteRestApi"),
    ("POST", re.compile(r"^/restapis/[^/]+/deployments/?$"), "CreateDeployment"),
    ("POST", re.compile(r"^/restapis/[^/]+/documentation/versions/?$"), "CreateDocumentationVersion"),
    ("PUT", re.compile(r"^/restapis/[^/]+/documentation/parts/?$"), "ImportDocumentationParts"),
    ("GET", re.compile(r"^/restapis/[^/]+/resources/?$"), "GetResources"),
    ("POST", re.compile(r"^/restapis/[^/]+/resources/[^/]+/?$"), "CreateResource"),
    ("DELETE", re.compile(r"^/restapis/[^/]+/resources/[^/]+/?$"), "DeleteResource"),
    ("PATCH", re.compile(r"^/usageplans/[^/]+/?$"), "UpdateUsagePlan"),
    ("PATCH", re.compile(r"^/account/?$"), "UpdateAccount"),
    ("POST", re.compile(r"^/apikeys/?$"), "CreateApiKey"),
    ("DELETE", re.compile(r"^/apikeys/[^/]+/?$"), "DeleteApiKey"),
    ("POST", re.compile(r"^/domainnames/?$"), "CreateDomainName"),
    ("DELETE", re.compile(r"^/domainnames/[^/]+/?$"), "DeleteDomainName"),
    ("PATCH", re.compile(r"^/domainnames/[^/]+/?$"), "UpdateDomainName"),
]

# The credential scope of a SigV4 Authorization header: Credential=AKID/date/region/service/...
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

MAX_RECORDS = 20000


def operation_of(method: str, path: str, query: str = "") -> str | None:
    """The quota class of an API Gateway control-plane request, or None for the total only."""
    if method == "POST" and re.match(r"^/restapis/?$", path) and "mode=import" in query:
        return "ImportRestApi"
    for verb, pattern, operation in _ROUTES:
        if verb == method and pattern.match(path):
            return operation
    return None


def parse_mode(text: str | None) -> str | None:
    """``aws`` (enforce AWS's published quotas) or off (None)."""
    value = (text or "").strip().lower()
    if value in ("", "off", "none", "0"):
        return None
    if value != "aws":
        raise ValueError(f"quotas: 'aws' or 'off', got {text!r}")
    return value


def parse_time_scale(value: Any, what: str = "quota_time_scale") -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what}: a number >= 1 (how much faster the quota clock runs), got {value!r}"
        ) from None
    if not math.isfinite(scale) or scale < 1:
        raise ValueError(f"{what}: a number >= 1 (how much faster the quota clock runs), got {value!r}")
    return scale


def from_env() -> tuple[str | None, float]:
    """LOCALCLOUD_QUOTAS and LOCALCLOUD_QUOTA_TIME_SCALE."""
    mode = parse_mode(os.environ.get("LOCALCLOUD_QUOTAS"))
    scale = parse_time_scale(
        os.environ.get("LOCALCLOUD_QUOTA_TIME_SCALE") or 1, "LOCALCLOUD_QUOTA_TIME_SCALE"
    )
    return mode, scale


@dataclass(frozen=True)
class Call:
    at: float  # time.time() when answered
    account: str
    region: str
    operation: str
    admitted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ControlPlaneQuotas:
    """Token buckets per (account, region, quota class); ``check`` answers 429 or lets through."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = parse_time_scale(time_scale)
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}
        self._calls: deque[Call] = deque(maxlen=MAX_RECORDS)
        self.throttled = 0

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._calls.clear()
            self.throttled = 0

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def check(self, environ: dict[str, Any], path: str, method: str) -> Response | None:
        found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if found is None or found.group(3) != "apigateway":
            return None
        access_key, region = found.group(1), found.group(2)
        account = _account_of(access_key)
        operation = operation_of(method, path, environ.get("QUERY_STRING", ""))
        classes = [c for c in (operation, "*") if c is not None]
        now = time.monotonic()
        with self._lock:
            wait = self._take(account, region, classes, now)
            self._calls.append(Call(time.time(), account, region, operation or f"{method} {path}", wait == 0))
            if wait == 0:
                return None
            self.throttled += 1
        return too_many_requests(wait)

    def _take(self, account: str, region: str, classes: list[str], now: float) -> float:
        """0 when every class has a token (then all are taken), else the seconds until they would."""
        levels = {}
        for name in classes:
            requests, per, burst = QUOTAS[name]
            rate = requests / per * self.time_scale
            tokens, then = self._buckets.get((account, region, name), (burst, now))
            levels[name] = (min(burst, tokens + (now - then) * rate), rate)
        short = [(1 - tokens) / rate for tokens, rate in levels.values() if tokens < 1]
        if short:
            for name, (tokens, _rate) in levels.items():
                self._buckets[(account, region, name)] = (tokens, now)
            return max(short)
        for name, (tokens, _rate) in levels.items():
            self._buckets[(account, region, name)] = (tokens - 1, now)
        return 0.0


def too_many_requests(wait_s: float) -> Response:
    """AWS's answer: 429, TooManyRequestsException, Retry-After, and the REST-JSON error body."""
    response = Response(
        json.dumps({"message": "Too Many Requests"}), status=429, content_type="application/json"
    )
    response.headers["x-amzn-ErrorType"] = "TooManyRequestsException"
    response.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    return response


def _account_of(access_key: str) -> str:
    """As moto decides it: a 12-digit key is that account; an IAM user's key its user's account."""
    if access_key.isdigit() and len(access_key) == 12:
        return access_key
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(access_key))
