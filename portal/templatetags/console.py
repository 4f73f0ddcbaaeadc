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


@register.simple_tag
def console_overview() -> dict[str, Any]:
    """The index's overview (a constant number of queries; see portal.console.overview)."""
    return overview()
