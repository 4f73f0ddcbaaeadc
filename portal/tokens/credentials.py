"""API token secrets: how one is made, what is stored of it, and how a presented one is checked.

A token reads `envp_<lookup>_<secret>`: the recognisable prefix lets secret scanners (and our
log filter) find one; `lookup` (12 hex digits, not secret) finds the row; the secret carries 256
random bits. Only the SHA-256 of the whole token is stored, compared in constant time. What a
token reaches is `portal.tokens.reach`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import QuerySet
from django.utils import timezone

from .models import ROLES, ApiToken

PREFIX = "envp_"
TOKEN_RE = re.compile(r"^envp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


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


def usable() -> QuerySet[ApiToken]:
    now = timezone.now()
    return ApiToken.objects.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
