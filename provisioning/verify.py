"""Prove an environment works: the CRUD journey over real HTTP, negative checks, live config.

R-VER-1 and R-VER-2 run against whatever endpoint the environment has (the local cloud, real
AWS, LocalStack): nothing here assumes it is local. R-VER-3 is the engine's own drift
comparison, so verification and drift can never disagree about what "correct" means. Every
check records R-VER-4's fields. The journey's item is deleted in a `finally`, so a check that
fails midway leaves nothing behind.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import http
from .aws import AwsClients, AwsTarget, CallCounts
from .checks import Check
from .engine import Engine
from .spec import EnvironmentSpec

CORS_HEADERS = ("Content-Type", "X-Amz-Date", "Authorization", "X-Api-Key")


@dataclass
class VerifyReport:
    environment: str
    endpoint: str | None
    checks: list[Check] = field(default_factory=list)
    wall_s: float = 0.0
    calls: CallCounts = field(default_factory=CallCounts)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "endpoint": self.endpoint,
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
            "wall_s": round(self.wall_s, 4),
            "calls": self.calls.to_dict(),
            "error": self.error,
        }


# A 429 is the stage's throttle doing its job (its burst is kept within the function's reserved
# concurrency, spec.capacity_warnings): the journey backs off and resends, as a client should.
THROTTLE_RETRIES = 4


class _Api:
    """Requests against one stage with one key; records a Check per expectation."""

    def __init__(
        self,
        endpoint: str,
        key: str,
        origin: str,
        timeout: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.key = key
        self.origin = origin
        self.timeout = timeout
        self.sleep = sleep
        self.checks: list[Check] = []
        self.created_id: str | None = None  # the journey's item until it is deleted

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        key: str | None = "default",
        raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> http.Response:
        sent = {"Content-Type": "application/json", "Origin": self.origin, **(headers or {})}
        api_key = self.key if key == "default" else key
        if api_key is not None:
            sent["x-api-key"] = api_key
        payload = raw if raw is not None else (None if body is None else json.dumps(body))
        url, delay = self.endpoint + path, 0.2
        for _ in range(THROTTLE_RETRIES):
            resp = http.request(method, url, headers=sent, body=payload, timeout=self.timeout)
            if resp.status != 429:
                return resp
            self.sleep(delay)  # the stage's own throttle said "slow down": a good client does
            delay *= 2
        return http.request(method, url, headers=sent, body=payload, timeout=self.timeout)

    def record(
        self,
        name: str,
        requirement: str,
        resp: http.Response,
        expected_status: int,
        extra: Callable[[http.Response], tuple[bool, str, str]] | None = None,
    ) -> bool:
        passed = resp.status == expected_status
        expected = f"HTTP {expected_status}"
        found = f"HTTP {resp.status}" if resp.status is not None else f"no answer: {resp.error}"
        if passed and extra is not None:
            ok, want, got = extra(resp)
            passed, expected, found = ok, f"{expected}; {want}", f"{found}; {got}"
        elif not passed and resp.body:
            found += f"; body {resp.body[:200].decode(errors='replace')}"
        self.checks.append(Check(name, requirement, passed, resp.status, resp.latency_ms, expected, found))
        return passed


def _field(name: str, want: Any) -> Callable[[http.Response], tuple[bool, str, str]]:
    def check(resp: http.Response) -> tuple[bool, str, str]:
        body = resp.json() or {}
        got = body.get(name) if isinstance(body, dict) else None
        return got == want, f"{name}={want!r}", f"{name}={got!r}"

    return check


def _journey(api: _Api, marker: str) -> None:
    """R-VER-1: create, read, update, read back, list, delete, read again expecting 404."""
    created = api.call("POST", "/items", body={"name": marker, "purpose": "envport verification"})
    if not api.record("create item", "R-VER-1", created, 201, _field("name", marker)):
        return
    item = created.json() or {}
    item_id = item.get("id")
    api.created_id = item_id
    path = f"/items/{item_id}"
    api.record("read item", "R-VER-1", api.call("GET", path), 200, _field("id", item_id))
    renamed = marker + "-updated"
    api.record(
        "update item",
        "R-VER-1",
        api.call("PUT", path, body={"name": renamed, "version": item.get("version")}),
        200,
        _field("version", (item.get("version") or 0) + 1),
    )
    api.record("read back update", "R-VER-1", api.call("GET", path), 200, _field("name", renamed))

    def listed(resp: http.Response) -> tuple[bool, str, str]:
        items = (resp.json() or {}).get("items") or []
        ids = [i.get("id") for i in items if isinstance(i, dict)]
        return (
            item_id in ids,
            f"item {item_id} in the newest 100",
            f"{len(ids)} items, present={item_id in ids}",
        )

    api.record("list items", "R-VER-1", api.call("GET", "/items?limit=100"), 200, listed)
    if api.record("delete item", "R-VER-1", api.call("DELETE", path), 204):
        api.created_id = None
    api.record("read deleted item", "R-VER-1", api.call("GET", path), 404)


def _negative(api: _Api) -> None:
    """R-VER-2: the API refuses what it must refuse, and answers the browser's preflight."""
    api.record("no api key", "R-VER-2", api.call("GET", "/items", key=None), 403)
    api.record(
        "wrong api key", "R-VER-2", api.call("GET", "/items", key="envport-wrong-" + uuid.uuid4().hex), 403
    )
    api.record("invalid json", "R-VER-2", api.call("POST", "/items", raw="{not json"), 400)
    api.record("unknown id", "R-VER-2", api.call("GET", f"/items/{uuid.uuid4()}"), 404)
    preflight = api.call(
        "OPTIONS",
        "/items",
        key=None,
        headers={
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )

    def cors(resp: http.Response) -> tuple[bool, str, str]:
        origin = resp.header("Access-Control-Allow-Origin")
        methods = {m.strip() for m in resp.header("Access-Control-Allow-Methods").split(",")}
        allowed = {h.strip().lower() for h in resp.header("Access-Control-Allow-Headers").split(",")}
        want_headers = {h.lower() for h in CORS_HEADERS}
        ok = origin in ("*", api.origin) and {"GET", "POST", "OPTIONS"} <= methods and want_headers <= allowed
        return (
            ok,
            f"origin {api.origin} or *, methods GET,POST,OPTIONS, headers {','.join(CORS_HEADERS)}",
            f"origin {origin!r}, methods {sorted(methods)}, headers {sorted(allowed)}",
        )

    api.record("cors preflight", "R-VER-2", preflight, 200, cors)


def verify(
    spec: EnvironmentSpec,
    target: AwsTarget | None = None,
    *,
    clients: AwsClients | None = None,
    timeout: float = 10.0,
    settle_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyReport:
    """Run every check; never raises for a failed check (it is recorded), only for bad arguments."""
    started = time.monotonic()
    engine = Engine(spec, target, clients=clients, sleep=sleep)
    recorder = engine.clients.recorder
    before = recorder.snapshot()
    live = engine.drift()
    report = VerifyReport(spec.suffix, live.outputs.get("api_endpoint"))
    # R-VER-3: every managed resource read back and compared, one check per resource.
    for step in live.steps:
        diffs = step.diffs
        expected = "; ".join(f"{d.field}={_short(d.wanted)}" for d in diffs) or "as defined"
        found = "; ".join(f"{d.field}={_short(d.found)}" for d in diffs) or (step.error or "as defined")
        passed = step.status == "succeeded" and not diffs
        report.checks.append(
            Check(f"live config: {step.resource}", "R-VER-3", passed, None, None, expected, found)
        )
    key_id = live.outputs.get("api_key_id")
    if not report.endpoint or not key_id:
        report.error = "the environment has no API endpoint or key yet: provision it first"
        report.wall_s, report.calls = time.monotonic() - started, recorder.since(before)
        return report
    key = engine.clients.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    origin = spec.cors_origins[0] if spec.cors_origins[0] != "*" else "https://verify.envport.invalid"
    api = _Api(report.endpoint, key, origin, timeout, sleep)
    _settle(api, settle_s, sleep)
    marker = f"envport-verify-{uuid.uuid4().hex[:12]}"
    try:
        _journey(api, marker)
        _negative(api)
    finally:
        if api.created_id:
            api.call("DELETE", f"/items/{api.created_id}")
    report.checks.extend(api.checks)
    report.wall_s, report.calls = time.monotonic() - started, recorder.since(before)
    return report


def _settle(api: _Api, settle_s: float, sleep: Callable[[float], None]) -> None:
    """A new key or usage plan takes a few seconds to reach API Gateway's edge: wait for a 2xx.

    The answer is not recorded; the journey that follows makes the real checks.
    """
    deadline = time.monotonic() + settle_s
    delay = 0.5
    while time.monotonic() < deadline:
        resp = api.call("GET", "/items?limit=1")
        if resp.status is not None and resp.status < 500 and resp.status != 403:
            return
        sleep(delay)
        delay = min(delay * 2, 5.0)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."
