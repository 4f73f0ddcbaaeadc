"""An environment's logs and grouped errors for the console, the CLI and the API (issue 19 items 2-4).

Every function starts with `authz.authorize(actor, "view", env)`: whoever may read the environment
(every role, a read-only token within its reach) may read its logs; out of a token's reach answers
as an absent environment does. Input is checked by the engine's bounds (`provisioning.logs`) before
any AWS call, and a refusal lists what is allowed (`InvalidInput`: 400 in the API, exit 2 in
the CLI, a message in the console).

Key values and secrets never appear: the environment's API key value (read from AWS for the
comparison, kept in this process only, never in a shared cache) and anything shaped like a bearer
token or a JWT are replaced in every row before it leaves the engine, and so before anything is
cached. Views are cached for a few seconds (`CACHE_S`), so a live tail refreshed by many browsers,
or a deployment page with many failed checks, does not multiply the calls to CloudWatch Logs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

from portal.models import CheckResult, Deployment, Environment
from portal.services import authz
from portal.services.base import ActionError, Actor, InvalidInput
from portal.targets import clients_for
from provisioning import logs as engine
from provisioning.aws import AwsClients

T = TypeVar("T")
SOURCES = ("function", "access")
CACHE_S = 5  # a view's answer is kept this long (the live tail refreshes every LIVE_TAIL_S)
LIVE_TAIL_S = 5
CHECK_WINDOW_MARGIN_S = 60  # around a run's start and end, for a check's log lines
CHECK_LINES = 50  # a failed check's lines shown inline
KEY_TTL_S = 60
_keys: dict[int, tuple[float, str]] = {}
_keys_lock = threading.Lock()


def _names(env: Environment) -> Any:
    try:
        return env.spec().names
    except Exception as exc:
        raise InvalidInput(f"environment {env.suffix} has an invalid definition", [str(exc)]) from None


def _api_key_value(env: Environment, clients: AwsClients) -> str:
    """The key's value, to redact it: read at most once a minute per environment, held in memory."""
    key_id = (env.outputs or {}).get("api_key_id")
    if not key_id:
        return ""
    now = time.monotonic()
    with _keys_lock:
        kept = _keys.get(env.pk)
        if kept is not None and kept[0] > now:
            return kept[1]
    try:
        value = str(clients.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"])
    except Exception:  # no key to compare with: the shapes of tokens are still redacted
        value = ""
    with _keys_lock:
        _keys[env.pk] = (now + KEY_TTL_S, value)
    return value


def _invalid(exc: engine.LogQueryError, what: str) -> InvalidInput:
    return InvalidInput(f"cannot read the {what} with that input", exc.problems)


def _cached(key: str, ttl: int, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    digest = "envport:logs:" + hashlib.sha256(key.encode()).hexdigest()
    found = cache.get(digest)
    if found is not None:
        found["cached"] = True
        return dict(found)
    value = compute()
    cache.set(digest, value, ttl)
    return {**value, "cached": False}


def _checked(problems: list[str], check: Callable[[], T], default: T) -> T:
    """`check()`, or `default` with its problems added: every problem of the input is listed at once."""
    try:
        return check()
    except engine.LogQueryError as exc:
        problems.extend(exc.problems)
        return default


def _run(env: Environment, what: str, read: Callable[[Any, AwsClients], Any]) -> dict[str, Any]:
    clients = clients_for(env)
    try:
        result = read(_names(env), clients)
    except engine.LogQueryError as exc:
        raise _invalid(exc, what) from None
    except ActionError:
        raise
    except Exception as exc:
        raise ActionError(f"could not read the {what} of {env.suffix}: {type(exc).__name__}: {exc}") from None
    return dict(result.to_dict())


def read_logs(
    actor: Actor,
    env: Environment,
    *,
    source: str = "function",
    since: str | None = None,
    pattern: str | None = None,
    request_id: str | None = None,
    status: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The function's lines (`source` function) or the stage's access log (`access`) for the last
    `since` (default 15m), filtered by a CloudWatch pattern, a request id, or (access) a status."""
    authz.authorize(actor, "view", env)
    problems: list[str] = []
    if source not in SOURCES:
        problems.append(f"source: {str(source)[:20]!r} is not allowed; one of {', '.join(SOURCES)}")
    seconds = _checked(problems, lambda: engine.parse_since(since, "15m"), 0)
    pattern = _checked(problems, lambda: engine.check_pattern(pattern), "")
    request_id = _checked(problems, lambda: engine.check_request_id(request_id), "")
    status = _checked(problems, lambda: engine.check_status(status), "")
    if status and source != "access":
        problems.append("status: only the access log is filtered by status (source=access)")
    if problems:
        raise InvalidInput("cannot read the logs with that input", problems)
    moment = time.time() if now is None else now
    window = engine.Window.last(seconds, moment)

    def read(names: Any, clients: AwsClients) -> engine.LogView:
        logs, redact = clients.client("logs"), engine.redactor([_api_key_value(env, clients)])
        if source == "access":
            return engine.access_logs(
                logs,
                names,
                window,
                pattern=pattern or "",
                status=status or "",
                request_id=request_id or "",
                redact=redact,
            )
        return engine.function_logs(
            logs, names, window, pattern=pattern or "", request_id=request_id or "", redact=redact
        )

    key = f"logs|{env.pk}|{source}|{seconds}|{pattern}|{request_id}|{status}|{int(moment) // CACHE_S}"
    view = _cached(key, CACHE_S, lambda: _run(env, "logs", read))
    return {"environment": env.suffix, "source": source, "since": since or "15m", **view}


def read_errors(
    actor: Actor,
    env: Environment,
    *,
    since: str | None = None,
    start: float | None = None,
    end: float | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The function's errors grouped by exception and top frame of our code, for the last `since`
    (default 24h), or between `start` and `end` (epoch seconds: a release's window)."""
    authz.authorize(actor, "view", env)
    moment = time.time() if now is None else now
    try:
        seconds = engine.parse_since(since, "24h")
        if start is not None:
            window = engine.Window.between(start, end if end is not None else moment)
        else:
            window = engine.Window.last(seconds, moment)
    except engine.LogQueryError as exc:
        raise _invalid(exc, "errors") from None

    def read(names: Any, clients: AwsClients) -> engine.ErrorReport:
        redact = engine.redactor([_api_key_value(env, clients)])
        return engine.function_errors(clients.client("logs"), names, window, redact=redact)

    bucket = (
        f"{window.start_ms // 1000}|{window.end_ms // 1000}"
        if start is not None
        else f"{seconds}|{int(moment) // CACHE_S}"
    )
    report = _cached(f"errors|{env.pk}|{bucket}", CACHE_S, lambda: _run(env, "errors", read))
    return {"environment": env.suffix, "since": since or "24h", **report}


def check_window(dep: Deployment) -> tuple[float, float]:
    """The run's time, widened by a margin: where its checks' lines are."""
    started = dep.started_at or dep.created_at
    finished = dep.finished_at or dt.datetime.now(dt.UTC)
    return started.timestamp() - CHECK_WINDOW_MARGIN_S, finished.timestamp() + CHECK_WINDOW_MARGIN_S


def check_lines(actor: Actor, check: CheckResult, dep: Deployment | None = None) -> dict[str, Any]:
    """A check's request's log lines (at most CHECK_LINES), for a failed check shown inline: read
    when the page renders, within the run's window, cached briefly (a check never changes). `dep`:
    the check's deployment when the caller holds it already (no query per check)."""
    dep = dep if dep is not None and dep.pk == check.deployment_id else check.deployment
    env = dep.environment
    authz.authorize(actor, "view", env)
    if not check.request_id:
        return {"rows": [], "reason": "the check made no request or its answer carried no request id"}
    start, end = check_window(dep)
    try:
        window = engine.Window.between(start, end)
        request_id = engine.check_request_id(check.request_id)
    except engine.LogQueryError as exc:
        raise _invalid(exc, "check's logs") from None

    def read(names: Any, clients: AwsClients) -> engine.LogView:
        redact = engine.redactor([_api_key_value(env, clients)])
        bounds = engine.Bounds(max_events=CHECK_LINES, max_pages=2, max_seconds=3.0)
        return engine.function_logs(
            clients.client("logs"), names, window, request_id=request_id, bounds=bounds, redact=redact
        )

    try:
        return _cached(f"check|{check.pk}", 30, lambda: _run(env, "check's logs", read))
    except ActionError as exc:
        if isinstance(exc, InvalidInput):
            raise
        return {"rows": [], "reason": str(exc)}


def release_window(dep: Deployment) -> tuple[float, float] | None:
    """A release's window (first traffic to the version until it ended): where the errors that
    rolled it back are; None when it never ran."""
    if dep.started_at is None:
        return None
    state = dep.release_state or {}
    traffic = state.get("traffic") or []
    first = traffic[0].get("at") if traffic and isinstance(traffic[0], dict) else None
    start = float(first) if isinstance(first, (int, float)) else dep.started_at.timestamp()
    end = (dep.finished_at or dt.datetime.now(dt.UTC)).timestamp()
    return start - CHECK_WINDOW_MARGIN_S, end + CHECK_WINDOW_MARGIN_S
