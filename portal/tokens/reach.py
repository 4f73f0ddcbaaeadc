"""What an API token reaches: a set of stages and, optionally, name patterns that match only
inside those stages. No database here: the rows are `portal.tokens.models`, the secrets
`portal.tokens.credentials`.

The stage set is what keeps a token out of prod: a token whose stages exclude prod never acts on a
prod-stage environment, whatever its name and whenever it was made. A pattern is an anchored glob
over the whole name: `*` any run of characters, `?` one, `[0-9]` / `[!0-9]` one of (or none of) a
class of a-z, 0-9 and -; everything else stands for itself. `pr*` matches `pr4966` and `prod`
alike (that is what a glob says), so a pipeline that must never reach prod gets the stages
dev,staging; `pr[0-9]*` matches previews only.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# The stages a token may reach, in their order of risk.
STAGES = ("dev", "staging", "prod")
# A notification rule's name pattern (`portal.notifications`): a suffix's characters and * and ?.
PATTERN_RE = re.compile(r"^[a-z0-9*?-]{1,64}$")
# A token's name pattern: characters of a name, the wildcards * and ?, and classes [a-z0-9-]
# (negated with a leading !). Bounded in length, count and wildcards, so that matching (here and
# in the database's regex) stays linear. Used with fullmatch ("$" would accept a trailing newline).
TOKEN_PATTERN_RE = re.compile(r"(?:[a-z0-9-]|\*|\?|\[!?[a-z0-9-]{1,16}\])+")
PATTERN_MAX = 64
PATTERNS_MAX = 10
STARS_MAX = 4
PATTERN_ALLOWED = (
    f"an anchored glob of at most {PATTERN_MAX} characters over the whole name: a-z, 0-9, -, "
    f"* (at most {STARS_MAX}), ? and classes such as [0-9] or [!a-z] (pr[0-9]*)"
)


def matches(pattern: str, suffix: str) -> bool:
    return not pattern or fnmatch.fnmatchcase(suffix, pattern)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is refused (a problem line), or None if it is a pattern a token may hold."""
    shown = repr(pattern[:PATTERN_MAX]) + ("…" if len(pattern) > PATTERN_MAX else "")
    if (
        len(pattern) > PATTERN_MAX
        or not TOKEN_PATTERN_RE.fullmatch(pattern)
        or pattern.count("*") > STARS_MAX
    ):
        return f"environments: {shown} is not allowed; {PATTERN_ALLOWED}"
    try:
        re.compile(pattern_regex(pattern))
    except re.error:  # a class whose range runs backwards, [z-a]
        return f"environments: {shown} is not allowed; a class's range runs upwards ([a-z], not [z-a])"
    return None


def stage_problems(stages: Iterable[str]) -> list[str]:
    chosen = list(stages)
    if not chosen:
        return [f"stages: none is not allowed; one or more of {', '.join(STAGES)} (dev,staging)"]
    return [
        f"stages: {stage[:20]!r} is not allowed; one or more of {', '.join(STAGES)} (dev,staging)"
        for stage in chosen
        if stage not in STAGES
    ]


def pattern_regex(pattern: str) -> str:
    """A valid pattern as a regular expression (no anchors) that Python, PostgreSQL and SQLite all
    read the same way: the one definition of what a pattern matches."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1 : end]
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end
        else:
            out.append(char)  # a-z, 0-9 and - stand for themselves outside a class
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Reach:
    """What a credential may act on: environments of these stages whose names match one of the
    patterns (no patterns: every name), and, if read-only, only by reading."""

    stages: frozenset[str] = frozenset(STAGES)
    patterns: tuple[str, ...] = ()
    read_only: bool = False

    @classmethod
    def of(cls, token: Any) -> Reach:
        """A token's reach, failing closed: a row whose stages or patterns are not valid (written
        around the service) loses them, and one left with no valid pattern reaches nothing."""
        stages = frozenset(s for s in (token.stages or []) if s in STAGES)
        stored = [p for p in (token.patterns or []) if isinstance(p, str)]
        patterns = tuple(p for p in stored if pattern_problem(p) is None)
        if len(patterns) != len(token.patterns or []) and not patterns:
            stages = frozenset()
        return cls(stages, patterns, token.read_only)

    @property
    def everything(self) -> bool:
        return self.stages >= frozenset(STAGES) and not self.patterns

    def regex(self) -> str | None:
        """The patterns as one anchored regular expression; None when every name is in reach."""
        if not self.patterns:
            return None
        return "^(?:" + "|".join(pattern_regex(p) for p in self.patterns) + ")$"

    def covers(self, stage: str, name: str) -> bool:
        if stage not in self.stages:
            return False
        regex = self.regex()
        return regex is None or re.match(regex, name) is not None

    def describe(self) -> str:
        """The reach in words, as the token pages, `apitoken list` and the audit trail show it."""
        stages = ",".join(s for s in STAGES if s in self.stages) or "none"
        names = " ".join(self.patterns) if self.patterns else "*"
        return f"stages {stages}; environments {names}" + ("; read-only" if self.read_only else "")


def ordered_stages(stages: Iterable[str]) -> list[str]:
    chosen = set(stages)
    return [s for s in STAGES if s in chosen]
