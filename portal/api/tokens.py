"""API token secrets: how one is made, what is stored of it, and how a presented one is checked.

A token reads `envp_<lookup>_<secret>`: the recognisable prefix lets secret scanners (and our
log filter) find one; `lookup` (12 hex digits, not secret) finds the row; the secret carries 256
random bits. Only the SHA-256 of the whole token is stored, compared in constant time.

A token's reach (`Reach`) is a set of stages and, optionally, name patterns that match only inside
those stages. The stage set is what keeps a token out of prod: a token whose stages exclude prod
never acts on a prod-stage environment, whatever its name and whenever it was made. A pattern is an
anchored glob over the whole name: `*` any run of characters, `?` one, `[0-9]` / `[!0-9]` one of
(or none of) a class of a-z, 0-9 and -; everything else stands for itself. `pr*` matches `pr4966`
and `prod` alike (that is what a glob says), so a pipeline that must never reach prod gets the
stages dev,staging; `pr[0-9]*` matches previews only.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet
from django.utils import timezone

from .models import ROLES, ApiToken

PREFIX = "envp_"
TOKEN_RE = re.compile(r"^envp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
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


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(lookup, token): a fresh token and the id it is found by."""
    lookup = secrets.token_hex(6)
    return lookup, f"{PREFIX}{lookup}_{secrets.token_urlsafe(32)}"


def find(token: str) -> ApiToken | None:
    """The token row a presented token is, whatever its state; None if it is not one of ours."""
    match = TOKEN_RE.match(token)
    if match is None:
        return None
    row = ApiToken.objects.select_related("user").filter(lookup=match.group(1)).first()
    if row is None or not hmac.compare_digest(row.digest, digest(token)):
        return None
    return row


def user_role(user: Any) -> str | None:
    """The highest of the portal's roles the user holds (a superuser is an admin); None: no role."""
    if getattr(user, "is_superuser", False):
        return "admin"
    names = set(Group.objects.filter(user=user, name__in=ROLES).values_list("name", flat=True))
    held = [role for role in ROLES if role in names]
    return held[-1] if held else None


def role_permissions(role: str) -> frozenset[str]:
    """The permissions (`app.codename`) the role's group holds (migrations 0003..0005 grant them)."""
    rows = Permission.objects.filter(group__name=role).values_list("content_type__app_label", "codename")
    return frozenset(f"{app}.{codename}" for app, codename in rows)


def matches(pattern: str, suffix: str) -> bool:
    return not pattern or fnmatch.fnmatchcase(suffix, pattern)


def usable() -> QuerySet[ApiToken]:
    now = timezone.now()
    return ApiToken.objects.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)


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
    def of(cls, token: ApiToken) -> Reach:
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
