"""Time scales that make the local cloud's clocks run faster than AWS's (alarm periods, session
lifetimes): a number greater than 0 and at most 1, read from a setting or an environment variable."""

from __future__ import annotations

import os
from typing import Any


def parse(value: Any, source: str, example: str) -> float:
    """`value` as a time scale, or ValueError naming `source`, what is allowed and `example` (what
    a scale does, e.g. "0.05 = a 300 s period lasts 15 s")."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = float("nan")
    if not 0 < scale <= 1:
        raise ValueError(
            f"{source}: a number greater than 0 and at most 1 (1 = AWS's timing, {example}); "
            f"got {str(value)[:40]!r}"
        )
    return scale


def from_env(name: str, example: str) -> float:
    """The scale the environment variable `name` sets; 1 (AWS's timing) when it is unset or empty."""
    raw = os.environ.get(name, "").strip()
    return parse(raw, name, example) if raw else 1.0
