"""Prove an environment works: the CRUD journey over real HTTP, negative checks, live config.

R-VER-1 and R-VER-2 run against whatever endpoint the environment has (the local cloud, real
AWS, LocalStack): nothing here assumes it is local. R-VER-3 is the engine's own drift
comparison, so verification and drift can never disagree about what "correct" means. Every
check records R-VER-4's fields. The journey's item is deleted in a `finally`, so a check that
fails midway leaves nothing behind.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import http
from .aws import AwsClients, AwsTarget, CallCounts, error_code
from .checks import Check
from .credentials import Credential, ModeCredentials, for_mode, no_credential
from .engine import UNUSED_RESOURCE, Engine, unused_line
from .http import REQUEST_ID_HEADER, request_id_of
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
        self.credential: Credential = no_credential  # R-AUTH-3: the mode's, set by verify()
        # Why a 5xx happened, from the function's own log (``denial_in_logs``); set by verify().
        self.explain_5xx: Callable[[float], str | None] | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        key: str | None = "default",
        raw: str | None = None,
        headers: dict[str, str] | None = None,
        credential: Credential | None = None,
    ) -> http.Response:
        """`credential`: None sends the journey's (the mode's valid one); a negative check names its own."""
        sent = {"Content-Type": "application/json", "Origin": self.origin, **(headers or {})}
        api_key = self.key if key == "default" else key
        if api_key is not None:
            sent["x-api-key"] = api_key
        payload = raw if raw is not None else (None if body is None else json.dumps(body))
        sent.update((credential or self.credential)(method, self.endpoint + path, sent, payload))
        delay = 0.2
        for _ in range(THROTTLE_RETRIES):
            resp = self.send(method, path, sent, payload)
            if resp.status != 429:
                return resp
            self.sleep(delay)  # the stage's own throttle said "slow down": a good client does
            delay *= 2
        return self.send(method, path, sent, payload)

    def send(self, method: str, path: str, headers: dict[str, str], payload: str | None) -> http.Response:
        """One request over HTTP; `_VersionApi` sends it as a direct invoke instead."""
        return http.request(method, self.endpoint + path, headers=headers, body=payload, timeout=self.timeout)

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
        if not passed and resp.status is not None and resp.status >= 500 and self.explain_5xx is not None:
            reason = self.explain_5xx(time.time() - (resp.latency_ms or 0) / 1000 - 1)
            if reason:
                found += f"; {reason}"
        self.checks.append(
            Check(
                name, requirement, passed, resp.status, resp.latency_ms, expected, found, request_id_of(resp)
            )
        )
        return passed


def _field(name: str, want: Any) -> Callable[[http.Response], tuple[bool, str, str]]:
    def check(resp: http.Response) -> tuple[bool, str, str]:
        body = resp.json() or {}
        got = body.get(name) if isinstance(body, dict) else None
        return got == want, f"{name}={want!r}", f"{name}={got!r}"

    return check


# What marks the journey's item: its purpose, and its name (an update keeps the name's prefix).
JOURNEY_PURPOSE = "envport verification"
VERSION_JOURNEY_PREFIX = "envport-release-"


def _journey(api: _Api, marker: str) -> None:
    """R-VER-1: create, read, update, read back, list, delete, read again expecting 404."""
    created = api.call("POST", "/items", body={"name": marker, "purpose": JOURNEY_PURPOSE})
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
    _input_checks(api)
    preflight = api.call(
        "OPTIONS",
        "/items",
        key=None,
        credential=no_credential,  # a preflight carries no credential: OPTIONS is NONE in every mode
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


def _auth_checks(api: _Api, creds: ModeCredentials) -> None:
    """R-AUTH-3: each refused credential of the mode, answered as API Gateway answers it, with the
    CORS headers a browser needs to read the refusal (R-AUTH-2)."""

    def cors(resp: http.Response) -> tuple[bool, str, str]:
        origin = resp.header("Access-Control-Allow-Origin")
        return origin in ("*", api.origin), f"Access-Control-Allow-Origin {api.origin} or *", f"{origin!r}"

    for name, (credential, status) in creds.refused.items():
        api.record(name, "R-AUTH-3", api.call("GET", "/items", credential=credential), status, cors)


def _input_checks(api: _Api) -> None:
    """R-VER-2's refusals that the function itself makes (the others are the gateway's)."""
    api.record("invalid json", "R-VER-2", api.call("POST", "/items", raw="{not json"), 400)
    api.record("unknown id", "R-VER-2", api.call("GET", f"/items/{uuid.uuid4()}"), 404)


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
    # R-VER-3: every managed resource read back and compared, one check per resource the spec
    # wants (and per unwanted one found present); those of modes it does not use, found absent,
    # are one check together.
    for step in live.steps:
        if step.unused:
            continue
        diffs = step.diffs
        expected = "; ".join(f"{d.field}={_short(d.wanted)}" for d in diffs) or "as defined"
        found = "; ".join(f"{d.field}={_short(d.found)}" for d in diffs) or (step.error or "as defined")
        passed = step.status == "succeeded" and not diffs
        report.checks.append(
            Check(f"live config: {step.resource}", "R-VER-3", passed, None, None, expected, found)
        )
    unused = [step.resource for step in live.steps if step.unused]
    if unused:
        line = unused_line(unused)
        report.checks.append(
            Check(f"live config: {UNUSED_RESOURCE}", "R-VER-3", True, None, None, "absent", line)
        )
    key_id = live.outputs.get("api_key_id")
    if not report.endpoint or not key_id:
        report.error = "the environment has no API endpoint or key yet: provision it first"
        report.wall_s, report.calls = time.monotonic() - started, recorder.since(before)
        return report
    key = engine.clients.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    origin = spec.cors_origins[0] if spec.cors_origins[0] != "*" else "https://verify.envport.invalid"
    api = _Api(report.endpoint, key, origin, timeout, sleep)
    logs, group = engine.clients.client("logs"), spec.names.function_log_group
    api.explain_5xx = lambda since: denial_in_logs(logs, group, since)
    try:
        creds = for_mode(spec, engine.clients)
    except Exception as exc:
        report.error = f"could not obtain a credential for auth mode {spec.settings.auth}: {exc}"
        report.wall_s, report.calls = time.monotonic() - started, recorder.since(before)
        return report
    api.credential = creds.valid
    marker = f"envport-verify-{uuid.uuid4().hex[:12]}"
    try:
        _settle(api, settle_s, sleep)
        _journey(api, marker)
        _negative(api)
        _auth_checks(api, creds)
    finally:
        if api.created_id:
            api.call("DELETE", f"/items/{api.created_id}")
        creds.cleanup()
    report.checks.extend(api.checks)
    report.wall_s, report.calls = time.monotonic() - started, recorder.since(before)
    return report


DENIAL = re.compile(r"is not authorized to perform: (\S+) on resource: ([^\s\"\\]+)")


def denial_in_logs(logs: Any, group: str, since: float) -> str | None:
    """The AccessDenied the function logged since ``since`` (epoch seconds), as "the function's role
    was denied ACTION on RESOURCE", or None.

    The function never puts AWS's error in its HTTP body (R-FN-8); it logs it with the request. So a
    5xx check reads the function's log group, as an operator would, the same call on AWS and in the
    local cloud. Best effort: on AWS log delivery can lag the response by seconds, and a lookup that
    fails or finds nothing leaves the check's ``found`` as it was."""
    try:
        events = logs.filter_log_events(logGroupName=group, startTime=int(since * 1000), limit=200)
    except Exception:  # the check has failed already; the explanation is a bonus
        return None
    for event in reversed(events.get("events", [])):
        match = DENIAL.search(str(event.get("message", "")))
        if match:
            action, resource = match.groups()
            return f"the function's role was denied {action} on {resource} (AccessDeniedException)"
    return None


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


# --- the journey against one published version, with no API Gateway involved (R-REL-4) ----------
class _VersionApi(_Api):
    """The journey's requests, sent as API Gateway proxy events (payload format 1.0) straight to
    one version of the function with Lambda's Invoke, and its answer mapped back to a response.

    A release judges a version before any traffic reaches it, so there is no stage to call: the
    event is the one the REST API's proxy integration would build, and the answer is read the way
    API Gateway reads it (a function error or a malformed answer is the 502 a client would get).
    """

    def __init__(
        self,
        clients: AwsClients,
        function: str,
        version: str,
        stage: str,
        origin: str,
        timeout: float,
        sleep: Callable[[float], None],
    ) -> None:
        super().__init__(f"lambda:{function}:{version}", "", origin, timeout, sleep)
        self.clients, self.function, self.version, self.stage = clients, function, version, stage

    def send(self, method: str, path: str, headers: dict[str, str], payload: str | None) -> http.Response:
        event = proxy_event(method, path, {k: v for k, v in headers.items() if v}, payload, self.stage)
        started = time.perf_counter()
        try:
            answer = self.clients.client("lambda").invoke(
                FunctionName=self.function, Qualifier=self.version, Payload=json.dumps(event).encode()
            )
            raw = answer["Payload"].read()
        except Exception as exc:
            latency = (time.perf_counter() - started) * 1000
            code = error_code(exc)
            # Lambda's own throttle is what the stage's 429 stands for here: back off the same way.
            status = 429 if code == "TooManyRequestsException" else None
            return http.Response(status, latency_ms=latency, error=f"{code or type(exc).__name__}: {exc}")
        latency = (time.perf_counter() - started) * 1000
        # The invocation's id (Lambda's x-amzn-RequestId): the runtime's START/END/REPORT and
        # [ERROR] lines carry it, and the function's own lines too (lambdaRequestId), so it finds
        # the request's lines even when the code never logged the event's id.
        request_id = str(
            answer.get("ResponseMetadata", {}).get("RequestId") or event["requestContext"]["requestId"]
        )
        if answer.get("FunctionError"):
            return http.Response(
                502,
                {REQUEST_ID_HEADER: request_id},
                body=raw,
                latency_ms=latency,
                error=f"function error: {answer['FunctionError']}",
            )
        resp = proxy_response(raw, latency)
        resp.headers[REQUEST_ID_HEADER] = request_id
        return resp


def proxy_event(
    method: str, path: str, headers: dict[str, str], body: str | None, stage: str
) -> dict[str, Any]:
    """The REST API proxy event (payload format 1.0) for `method path?query` on the /items routes."""
    split = urllib.parse.urlsplit(path)
    route = split.path
    parts = route.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "items":
        resource, path_parameters = "/items/{id}", {"id": urllib.parse.unquote(parts[1])}
    else:
        resource, path_parameters = route, None
    query = dict(urllib.parse.parse_qsl(split.query)) or None
    return {
        "resource": resource,
        "path": route,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{stage}{route}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "envport-release-verify"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def proxy_response(raw: bytes, latency_ms: float) -> http.Response:
    """Read a payload format 1.0 answer as API Gateway does; anything else is its 502."""
    try:
        result = json.loads(raw)
    except ValueError:
        result = None
    status = result.get("statusCode") if isinstance(result, dict) else None
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    body = result.get("body") if isinstance(result, dict) else None
    if (
        not isinstance(result, dict)
        or isinstance(status, bool)
        or not isinstance(status, int)
        or not 100 <= status <= 599
        or not isinstance(body, (str, type(None)))
    ):
        return http.Response(502, body=raw, latency_ms=latency_ms, error="malformed Lambda proxy response")
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items() if v is not None}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if isinstance(values, list) and values:
            headers.setdefault(str(name).lower(), ",".join(str(v) for v in values))
    data = (body or "").encode("utf-8")
    if result.get("isBase64Encoded") is True and body:
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            return http.Response(502, body=raw, latency_ms=latency_ms, error="malformed base64 body")
    return http.Response(status, headers, data, latency_ms)


def verify_version(
    spec: EnvironmentSpec,
    clients: AwsClients,
    version: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyReport:
    """R-VER-1's journey and the function's own R-VER-2 refusals against one published version,
    invoked directly: what a release runs before any traffic moves and again during the bake.

    The API-key and CORS-preflight checks are API Gateway's, which a direct invoke does not pass
    through, so they are not part of it. Checks are named after the version and count for R-REL-4.
    Never raises for a failed check; the journey's item is deleted in a `finally`.
    """
    started = time.monotonic()
    recorder = clients.recorder
    before = recorder.snapshot()
    names = spec.names
    origin = spec.cors_origins[0] if spec.cors_origins[0] != "*" else "https://verify.envport.invalid"
    api = _VersionApi(clients, names.function, version, names.api_stage, origin, 0.0, sleep)
    marker = f"{VERSION_JOURNEY_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        _journey(api, marker)
        _input_checks(api)
    finally:
        if api.created_id:
            api.call("DELETE", f"/items/{api.created_id}")
    report = VerifyReport(spec.suffix, api.endpoint)
    report.checks = [
        replace(c, name=f"version {version}: {c.name}", requirement="R-REL-4") for c in api.checks
    ]
    report.wall_s, report.calls = time.monotonic() - started, recorder.since(before)
    return report
