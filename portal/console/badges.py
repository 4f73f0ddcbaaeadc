"""Status badges: a symbol and a word for every state, so colour is never the only signal."""

from __future__ import annotations

import datetime as dt

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from ..svg import ACTION_SYMBOL

# value -> (symbol, tone); tone picks the colour in console.css (ok / warn / bad / busy / idle).
BADGES: dict[str, tuple[str, str]] = {
    # environment status
    "new": ("○", "idle"),
    "provisioning": ("⟳", "busy"),
    "ready": ("✔", "ok"),
    "failed": ("✖", "bad"),
    "tearing_down": ("⟳", "busy"),
    "torn_down": ("—", "idle"),
    # health
    "healthy": ("✔", "ok"),
    "degraded": ("▲", "warn"),
    "down": ("✖", "bad"),
    "unknown": ("?", "idle"),
    # drift
    "clean": ("✔", "ok"),
    "drifted": ("≠", "warn"),
    # deployment status
    "queued": ("…", "busy"),
    "running": ("⟳", "busy"),
    "succeeded": ("✔", "ok"),
    "cancelled": ("⊘", "idle"),
    # check result / step status
    "passed": ("✔", "ok"),
    "skipped": ("»", "idle"),
    # a run's result (Deployment.result): what it found or did, never red (red is a broken run)
    "promoted": ("✔", "ok"),
    "rolled_back": ("↶", "warn"),
    "unchanged": ("=", "idle"),
    "drift_found": ("≠", "warn"),
}


def run_badge(status: str, result: str = "") -> SafeString:
    """A run's status and, where it has one, its result: "✔ succeeded ≠ drift found"."""
    if not result:
        return badge(status)
    return format_html("{} {}", badge(status), badge(result))


def badge(value: str, label: str | None = None) -> SafeString:
    """`<span class="ep-badge ep-ok">✔ ready</span>`; the symbol is decorative, the word is read."""
    symbol, tone = BADGES.get(value, ("·", "idle"))
    return _badge(tone, symbol, label if label is not None else value.replace("_", " "))


def _badge(tone: str, symbol: str, text: str) -> SafeString:
    return format_html(
        '<span class="ep-badge ep-{}"><span aria-hidden="true">{}</span> {}</span>', tone, symbol, text
    )


def check_badge(passed: bool) -> SafeString:
    return badge("passed", "pass") if passed else badge("failed", "FAIL")


# A plan's or a step's action: the same symbols as the timeline's bars.
ACTIONS: dict[str, tuple[str, str]] = {
    action: (ACTION_SYMBOL[action], tone)
    for action, tone in (("create", "ok"), ("update", "warn"), ("no-op", "idle"), ("delete", "bad"))
}


def action_badge(action: str) -> SafeString:
    symbol, tone = ACTIONS.get(action, ("!", "bad"))
    return _badge(tone, symbol, action)


def ago(when: dt.datetime | None) -> str:
    """How long ago, in its largest unit ("3 minutes ago"), or "never"."""
    return f"{timesince(when).split(',')[0]} ago" if when else "never"
