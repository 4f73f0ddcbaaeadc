"""The console's traffic page of an environment, and the small panel on its page (issue 19 item 1).

Server-rendered SVG charts (`portal.svg.metric_chart`) on one time axis, readable without
JavaScript: each chart's numbers are in a table under it (a <details>), alarm states are bands,
and the portal's runs are markers that link to their run pages. The page says how many AWS calls
the view cost (at most two) and whether the brief cache answered. The service
(`portal.services.traffic`) asks the one guard; a refusal is a 403 page, a range that is not
allowed a 400 page that lists the allowed ones (as links), CloudWatch not answering a 502 page.

The environment page's panel never calls AWS: it shows the last hour's requests and errors only
when the cache holds them (someone opened the traffic page within the cache's life), otherwise
a link to the traffic page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from portal.models import Environment
from portal.services import authz
from portal.services import traffic as service
from portal.services.base import ActionError, Forbidden, NotFound
from portal.svg import metric_chart, metric_table
from provisioning.traffic import RANGES

from .pages import actor, page_object
from .views import _wrapper

RUN_WORDS = {
    "provision": "Provision",
    "release": "Release",
    "rollback": "Rollback",
    "drift repair": "Drift repair",
}


def traffic_view(model_admin: Any, request: Any, object_id: str) -> Any:
    env = page_object(model_admin, request, object_id)
    since = request.GET.get("since") or None
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": env,
        "title": f"Traffic of {env.suffix}",
        "ranges": [(name, _url(env, name)) for name in RANGES],
        "since": (since or "1h")[:20],
    }
    status = 200
    try:
        found = service.traffic(actor(request), env, since)
    except (NotFound, Forbidden) as exc:
        raise PermissionDenied(exc.message) from None
    except ActionError as exc:
        status = 502 if isinstance(exc, service.MetricsUnavailable) else 400
        context["error"] = exc.message
        context["problems"] = [p for p in exc.problems if p != exc.message]
    else:
        context.update(page(found))
    return TemplateResponse(request, "admin/portal/environment/traffic.html", context, status=status)


def _url(env: Environment, since: str) -> str:
    return reverse("admin:portal_environment_traffic", args=[env.pk]) + f"?since={since}"


def page(found: service.Traffic) -> dict[str, Any]:
    """The charts (SVG and table each), the markers and the call count of a traffic view."""
    view = found.view
    markers = [
        (
            m.at,
            m.kind,
            f"#{m.deployment} {RUN_WORDS.get(m.kind, m.kind)} ({m.outcome or m.status})",
            reverse("admin:portal_deployment_change", args=[m.deployment]),
        )
        for m in found.markers
    ]
    charts = _charts(found, markers)
    return {
        "view": view,
        "charts": charts,
        "markers": [
            {"marker": m, "label": label, "url": url}
            for m, (_, _, label, url) in zip(found.markers, markers, strict=True)
        ],
        "bands": [
            {"alarm": b.alarm, "state": b.state, "start": _clock(b.start), "end": _clock(b.end)}
            for b in view.bands
            if b.state != "OK"
        ],
        "cached": found.cached,
        "calls": sorted(view.calls.by_operation.items()),
    }


def _charts(found: service.Traffic, markers: list[tuple[float, str, str, str]]) -> list[dict[str, Any]]:
    """Each chart's SVG and table, rendered once per view and set of markers: a cached view is
    drawn from the cache too (a 30-day view is 18 series of 720 points and their tables)."""
    view = found.view
    key = (
        "envport:traffic-html:"
        + hashlib.sha256(
            repr(
                (found.environment, view.range.name, view.start, view.calls.total, view.end, markers)
            ).encode()
        ).hexdigest()
    )
    drawn = cache.get(key) if found.cached else None
    if not isinstance(drawn, list) or len(drawn) != len(view.charts):
        drawn = [
            (
                str(metric_chart(chart, view.start, view.end, view.range.period, view.bands, markers)),
                str(metric_table(chart, view.range.period)),
            )
            for chart in view.charts
        ]
        cache.set(key, drawn, service.cache_seconds())
    return [
        {"chart": chart, "svg": mark_safe(svg), "table": mark_safe(table)}  # escaped when drawn
        for chart, (svg, table) in zip(view.charts, drawn, strict=True)
    ]


def _clock(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def panel(request: Any, env: Environment) -> dict[str, Any]:
    """The environment page's traffic panel: a link, and the last hour's lines if cached."""
    who = actor(request)
    found = service.cached_traffic(who, env) if authz.may(who, "view", env) else None
    lines = []
    if found is not None:
        for key in ("api_requests", "lambda_invocations"):
            for series in found.view.chart(key).series:
                busiest = f" (at most {max(series.values):.0f} a minute)" if series.values else ""
                lines.append(f"{series.label}: {series.total:.0f}{busiest}")
    return {"traffic_url": _url(env, "1h"), "traffic_lines": lines}


def urls(model_admin: Any) -> list[Any]:
    wrap = _wrapper(model_admin)
    return [path("<path:object_id>/traffic/", wrap(traffic_view, "GET"), name="portal_environment_traffic")]
