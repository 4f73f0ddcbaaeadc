"""The console's Logs and Errors pages of an environment (issue 19 items 2-3), and the log lines
of a deployment's failed checks.

Both pages are GET forms that work without JavaScript: the filter fields are query parameters,
and the live tail is the page refreshing itself (`<meta http-equiv="refresh">`) while `tail=1`.
Every read goes through `portal.services.logs`, whose first line is the guard; a refusal of the
input is shown on the page with what is allowed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from portal.models import CheckResult, Deployment
from portal.services import logs as service
from portal.services.base import ActionError, Actor, Forbidden, InvalidInput, NotFound

ROLLBACK_CAUSE = "rollback-cause"  # the errors page's anchor on the group that caused a rollback
FAILED_CHECKS_INLINE = 5  # a deployment page reads the lines of at most this many failed checks


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "when": _when(r["timestamp"])} for r in rows]


def _page(
    model_admin: Any, request: HttpRequest, env: Any, title: str, template: str, extra: dict[str, Any]
) -> HttpResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": env,
        "title": title,
        **extra,
    }
    return TemplateResponse(request, template, context)


def logs_page(model_admin: Any, request: HttpRequest, env: Any, actor: Actor) -> HttpResponse:
    params = request.GET
    query = {
        "source": params.get("source") or "function",
        "since": params.get("since") or "15m",
        "pattern": params.get("filter") or "",
        "request_id": params.get("request_id") or "",
        "status": params.get("status") or "",
    }
    view: dict[str, Any] | None = None
    refusal: ActionError | None = None
    try:
        view = service.read_logs(
            actor,
            env,
            source=query["source"],
            since=query["since"],
            pattern=query["pattern"],
            request_id=query["request_id"],
            status=query["status"],
        )
    except NotFound:
        raise
    except Forbidden:
        raise
    except ActionError as exc:
        refusal = exc
    if params.get("format") == "json":  # the live tail's poll, for a script or a small JS
        if refusal is not None:
            return JsonResponse({"error": refusal.message, "problems": refusal.problems}, status=400)
        return JsonResponse(view)
    tail = params.get("tail") == "1" and refusal is None
    return _page(
        model_admin,
        request,
        env,
        f"Logs of {env.suffix}",
        "admin/portal/environment/logs.html",
        {
            "query": query,
            "view": view,
            "rows": _rows(view["rows"]) if view else [],
            "refusal": refusal,
            "tail": tail,
            "refresh_s": service.LIVE_TAIL_S,
            "errors_url": reverse("admin:portal_environment_errors", args=[env.pk]),
        },
    )


def errors_page(model_admin: Any, request: HttpRequest, env: Any, actor: Actor) -> HttpResponse:
    params = request.GET
    since = params.get("since") or "24h"
    refusal: ActionError | None = None
    report: dict[str, Any] | None = None
    try:
        start, end = _number(params.get("start")), _number(params.get("end"))
        report = service.read_errors(actor, env, since=since, start=start, end=end)
    except (NotFound, Forbidden):
        raise
    except ActionError as exc:
        refusal = exc
    groups = [
        {**g, "first": _when(g["first_seen"]), "last": _when(g["last_seen"])}
        for g in (report or {}).get("groups", [])
    ]
    release = params.get("release") or ""
    return _page(
        model_admin,
        request,
        env,
        f"Errors of {env.suffix}",
        "admin/portal/environment/errors.html",
        {
            "since": since,
            "report": report,
            "groups": groups,
            "refusal": refusal,
            "window": params.get("start") is not None,
            "highlight": params.get("group") or (rollback_group(env, release, groups) if release else ""),
            "release": release,
            "logs_url": reverse("admin:portal_environment_logs", args=[env.pk]),
        },
    )


def rollback_group(env: Any, release: str, groups: list[dict[str, Any]]) -> str:
    """The key of the group that caused a release's rollback, among the groups of its window (most
    frequent first): the group of a request a check of the release failed on, else the most
    frequent group seen on the version it released, else the most frequent ('' without groups)."""
    if not groups:
        return ""
    dep = (
        Deployment.objects.filter(pk=int(release), environment=env).first()
        if release.isdigit() and len(release) <= 12
        else None
    )
    if dep is not None:
        failed = set(
            CheckResult.objects.filter(deployment=dep, passed=False)
            .exclude(request_id="")
            .values_list("request_id", flat=True)[:50]
        )
        for group in groups:
            if failed & set(group.get("request_ids") or ()):
                return str(group["key"])
        version = str((dep.outputs or {}).get("to_version") or "")
        for group in groups:
            if version and version in (group.get("versions") or ()):
                return str(group["key"])
    return str(groups[0]["key"])


def _number(text: str | None) -> float | None:
    """An epoch-seconds bound from the query string: digits only, else a refusal naming it."""
    if text is None:
        return None
    if not text.isdigit() or len(text) > 12:
        raise InvalidInput(
            "cannot read the errors with that input",
            [f"start/end: {text[:20]!r} is not allowed; epoch seconds"],
        )
    return float(text)


def check_logs(actor: Actor, checks: list[CheckResult], dep: Deployment) -> dict[int, dict[str, Any]]:
    """The log lines of the first failed checks of `dep` that carry a request id, by check id."""
    found: dict[int, dict[str, Any]] = {}
    for check in [c for c in checks if not c.passed and c.request_id][:FAILED_CHECKS_INLINE]:
        try:
            lines = service.check_lines(actor, check, dep)
        except ActionError as exc:
            lines = {"rows": [], "reason": exc.message}
        found[check.pk] = {**lines, "rows": _rows(lines.get("rows", []))}
    return found


def release_errors_url(dep: Deployment) -> str | None:
    """For a rolled-back release, the Errors page of its window, its most frequent group first."""
    if dep.outcome != "rolled_back":
        return None
    window = service.release_window(dep)
    if window is None:
        return None
    base = reverse("admin:portal_environment_errors", args=[dep.environment_id])
    return f"{base}?start={int(window[0])}&end={int(window[1])}&release={dep.pk}#{ROLLBACK_CAUSE}"
