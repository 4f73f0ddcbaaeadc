"""Fidelity fix for CloudWatch Logs' FilterLogEvents: filter patterns as CloudWatch documents them.

Registered in ``fidelity.FIXES`` when ``fidelity/install.py`` imports this module, and installed by
``fidelity.apply()`` like every other fix. The grammar lives in ``logs_filter.py``; the tests in
``tests/localcloud/test_logs_filter.py`` cite
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.logs import models as logs_models
from moto.logs.exceptions import InvalidParameterException

from localcloud.cloudwatch import logs_filter
from localcloud.registry import around, fixer, replace

_fix = fixer(__name__)


def checked_pattern(pattern: str | None) -> logs_filter.FilterPattern:
    """The compiled pattern, or AWS's InvalidParameterException saying what is wrong with it."""
    try:
        return logs_filter.compile_pattern(pattern)
    except logs_filter.InvalidFilterPattern as exc:
        raise InvalidParameterException(f"Invalid filter pattern: {exc}") from None


@_fix(
    "logs-filter-pattern-syntax",
    "FilterLogEvents applies a naive filter: a pattern starting with a letter is a list of words, one "
    "starting with a quote a phrase, and any other (-term, ?term, a JSON selector, a space-delimited "
    "pattern, a regex) matches every event; a malformed pattern is never refused.",
    "FilterLogEvents applies the filter pattern syntax: terms (all, case-sensitive), quoted phrases, "
    '-term exclusions, ?term alternatives, %regex%, JSON selectors ({ $.level = "ERROR" }, numeric '
    "comparisons, &&, ||, IS NULL, NOT EXISTS) and space-delimited [field, ...] patterns; a pattern it "
    "cannot parse is refused with InvalidParameterException before any event is read.",
)
def _fix_filter_log_events() -> None:
    """moto's LogStream.filter_log_events uses its EventMessageFilter: use logs_filter instead."""

    @around(logs_models.LogsBackend, "filter_log_events")
    def filter_log_events(
        orig: Callable[..., Any], self: Any, log_group_name: str, *args: Any, **kwargs: Any
    ) -> Any:
        pattern = kwargs.get("filter_pattern", args[5] if len(args) > 5 else None)
        checked_pattern(pattern)  # refuse a bad pattern even for a group with no events
        return orig(self, log_group_name, *args, **kwargs)

    @replace(logs_models.LogStream, "filter_log_events")
    def stream_filter_log_events(
        self: Any, start_time: int, end_time: int, filter_pattern: str
    ) -> list[dict]:
        pattern = checked_pattern(filter_pattern)
        events: list[dict[str, Any]] = []
        for event in sorted(self.events, key=lambda e: e.timestamp):
            if start_time and event.timestamp < start_time:
                continue
            if end_time and event.timestamp > end_time:
                continue
            if not pattern.matches(event.message):
                continue
            found = event.to_filter_dict()
            found["logStreamName"] = self.log_stream_name
            events.append(found)
        return events
