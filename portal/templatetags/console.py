"""Template helpers of the console: badges, durations, "ago", and the index overview."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils.safestring import SafeString

from ..console import badges
from ..console.overview import overview

register = template.Library()


@register.filter
def badge(value: str, label: str | None = None) -> SafeString:
    return badges.badge(str(value), label)


@register.filter
def run_badge(dep: Any) -> SafeString:
    """A run's status and its result (a Deployment, or a document with both keys)."""
    if isinstance(dep, dict):
        return badges.run_badge(str(dep.get("status") or ""), str(dep.get("result") or ""))
    return badges.run_badge(str(dep.status), str(getattr(dep, "result", "") or ""))


@register.filter
def words(value: Any) -> str:
    """A stored value as words: drift_found -> drift found."""
    return str(value or "").replace("_", " ")


@register.filter
def action_badge(action: str) -> SafeString:
    return badges.action_badge(str(action))


@register.filter
def check_badge(passed: bool) -> SafeString:
    return badges.check_badge(bool(passed))


@register.filter
def ago(when: dt.datetime | None) -> str:
    return badges.ago(when)


@register.filter
def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


@register.filter
def millis(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


@register.filter
def as_text(value: Any) -> str:
    """A JSON value of a diff as an operator reads it: strings bare, the rest compact."""
    import json

    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


@register.simple_tag(takes_context=True)
def console_overview(context: Any) -> dict[str, Any]:
    """The index's overview (a constant number of queries; see portal.console.overview), at the
    request's `?page=` of the environments that need no attention, searched with `?q=`."""
    request = context.get("request")
    params = request.GET if request is not None else {}
    return overview(page=params.get("page", 1), q=params.get("q", ""))


@register.simple_tag(takes_context=True)
def page_url(context: Any, number: int) -> str:
    """This page's address at page `number`, every other parameter (the search) kept."""
    params = context["request"].GET.copy()
    params["page"] = str(number)
    return "?" + str(params.urlencode())


@register.filter
def rate(per_second: float) -> str:
    """A bucket's refill as AWS's quotas page words it: "10 per s" or "1 per 30 s"."""
    if per_second >= 1:
        return f"{per_second:g} per s"
    return f"1 per {1 / per_second:.3g} s" if per_second > 0 else "-"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """`mapping[key]` or None: a check's log lines by its id (the deployment page)."""
    return mapping.get(key) if isinstance(mapping, dict) else None
