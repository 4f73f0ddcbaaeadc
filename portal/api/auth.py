"""Who calls the API, and what the call may touch.

- `TokenAuthentication`: `Authorization: Bearer envp_...`. The request's user is a copy of the
  token's user (the same row: audit events and runs name them) whose permissions are the user's
  own, narrowed to the token's role (and to the view permissions if it is read-only), so that
  the service's guard (`portal.services.authz`) judges it exactly as it judges the console.
- DRF's `SessionAuthentication` (settings): the browser, signed in to the console, with CSRF.
- `actor`: who acts, for the service layer; a token's actor carries its reach (stages, name
  patterns, read-only: `portal.tokens.reach.Reach`), which `portal.services.authz` checks on every action. An
  environment or a run out of a token's reach answers 404, exactly like an absent one.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from portal import lockout
from portal.models import Environment
from portal.services import authz
from portal.services import environments as environment_service
from portal.services.base import Actor, Forbidden
from portal.tokens import credentials
from portal.tokens.models import ApiToken
from portal.tokens.reach import Reach

# last_used_at is written at most this often per token (not on every request).
TOUCH_EVERY = dt.timedelta(seconds=60)


def scoped_user(user: Any, token: ApiToken) -> Any:
    """`user` with the rights of `token`: never more than the user's own, at most the token's role."""
    granted = set(user.get_all_permissions()) & credentials.role_permissions(token.role)
    if token.read_only:
        granted = {p for p in granted if p.split(".", 1)[1].startswith("view_")}
    scoped = copy.copy(user)
    scoped.is_superuser = False

    def has_perm(perm: str, obj: Any = None) -> bool:
        return bool(scoped.is_active) and obj is None and perm in granted

    scoped.has_perm = has_perm
    scoped.get_all_permissions = lambda obj=None: set(granted)
    return scoped


class TooManyFailures(exceptions.APIException):
    """429: the address has failed to authenticate too often (`portal.lockout`); `wait` becomes
    Retry-After (DRF's handler reads it)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, wait: int) -> None:
        super().__init__(lockout.message(wait))
        self.wait = wait


class TokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        """The token's user, or None without a bearer token; every failure counts against the
        client's address, and an address past its limit is refused before its token is read."""
        address = lockout.client_address(request)
        try:
            return self._authenticate(request, address)
        except exceptions.AuthenticationFailed:
            lockout.record_failure(address)
            raise

    def _authenticate(self, request: Any, address: str) -> tuple[Any, ApiToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        wait = lockout.refused_for(address)
        if wait:
            raise TooManyFailures(wait)
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("use one header: Authorization: Bearer envp_...")
        token = credentials.find(header[1].decode("latin-1"))
        if token is None:
            raise exceptions.AuthenticationFailed("invalid API token")
        if token.state != "active":
            raise exceptions.AuthenticationFailed(f"API token {token.prefix} is {token.state}")
        user = token.user
        if not (user.is_active and user.is_staff):
            raise exceptions.AuthenticationFailed(
                f"the user of API token {token.prefix} is not an active staff user"
            )
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return scoped_user(user, token), token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="envport"'


class Authenticated(BasePermission):
    """A staff user, by token or session: the console's users (and roles) are the API's."""

    message = "authenticate with Authorization: Bearer envp_... (or sign in to the console)"

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        if not (user.is_active and user.is_staff):
            raise exceptions.PermissionDenied("only the console's staff users may use the API")
        return True


def reach(request: Any) -> Reach | None:
    """The request's token's reach; None for a console session (its role alone decides)."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    return Reach.of(token) if token is not None else None


def actor(request: Any) -> Actor:
    return Actor("api", request.user, remote_addr=request.META.get("REMOTE_ADDR"), reach=reach(request))


def require_perm(request: Any, perm: str, what: str) -> None:
    if not request.user.has_perm(perm):
        raise exceptions.PermissionDenied(
            f"your role{' (as this token narrows it)' if request.auth else ''} does not allow {what}"
        )


def require_write(request: Any) -> None:
    """A read-only token reads only (the service refuses it too; this answers before parsing)."""
    found = reach(request)
    if found is not None and found.read_only:
        raise Forbidden(
            "token: read-only; only reads (GET) are allowed",
            ["token: read-only; only reads (GET) are allowed"],
        )


def environment(request: Any, name: str) -> Environment:
    """The environment `name`, if the request may see it: out of a token's reach, or absent, 404."""
    return environment_service.get_environment(name, actor(request))


def environments(request: Any) -> Any:
    """Every environment the request may see."""
    return authz.visible(actor(request), Environment.objects.select_related("last_deployment"))


class TokenScheme(OpenApiAuthenticationExtension):
    """The schema's description of `TokenAuthentication` (Swagger UI's Authorize button)."""

    target_class = TokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "envp_<id>_<secret>",
            "description": "An API token (manage.py apitoken create USER), shown once at creation.",
        }
