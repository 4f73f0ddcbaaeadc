"""API tokens: create one (shown once, only its SHA-256 kept) and revoke one, both audited. Tokens
are an admin's to give and take; the one guard's table (`authz.ACTIONS`) is about environments, so
the rule for tokens is the token model's own Django permissions (`tokens.add_apitoken`,
`tokens.change_apitoken`), asked first by both functions. What a token reaches is
`portal.tokens.reach`; how one is made and checked, `portal.tokens.credentials`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.models import AuditEvent
from portal.services.audit import audit
from portal.services.authz import PROD
from portal.services.base import Actor, Forbidden, InvalidInput
from portal.tokens import credentials, reach
from portal.tokens.models import ROLES, ApiToken


def token_reach(token: ApiToken) -> dict[str, Any]:
    """What a token may do: its role, whether it only reads, and the stages and environments (and
    their summary, its scope) it reaches."""
    return {
        "role": token.role,
        "read_only": token.read_only,
        "stages": reach.ordered_stages(token.stages),
        "environments": list(token.patterns),
        "scope": token.scope,
    }


def _token_detail(token: ApiToken) -> dict[str, Any]:
    """What the audit trail keeps of a token: never the token, only what recognises it."""
    return {
        "token": token.pk,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        **token_reach(token),
        "expires_at": token.expires_at,
    }


def _require_token_admin(actor: Actor, what: str) -> None:
    """Tokens are an admin's to give and take (the CLI without a user acts as an admin)."""
    if actor.user is not None and not actor.user.has_perm(f"tokens.{what}_apitoken"):
        raise Forbidden(f"managing API tokens needs an admin; {actor.name} may not")
    if actor.user is None and actor.source != AuditEvent.Source.CLI:
        raise Forbidden("a schedule does not manage API tokens")


def create_api_token(
    actor: Actor,
    user: Any,
    *,
    role: str | None = None,
    read_only: bool = False,
    stages: Iterable[str],
    environments: Iterable[str] | str = (),
    expires_at: dt.datetime | None = None,
    name: str = "",
) -> tuple[ApiToken, str]:
    """A new token for `user` and its value, which is never kept (only its SHA-256 is) and is
    shown to the caller once. The role defaults to the user's and may only narrow it.

    Its reach is `stages` (dev, staging, prod: named, never implied) and, optionally, name
    patterns (`environments`, anchored globs; see `portal.tokens.reach`) that match only inside
    those stages. prod is in a token's stages only when an admin asks for it: an actor who is not
    an admin is refused, whatever the token's role."""
    _require_token_admin(actor, "add")
    stages = [stages] if isinstance(stages, str) else list(stages)
    patterns = [environments] if isinstance(environments, str) else list(environments)
    patterns = [p for p in patterns if p]
    held = credentials.user_role(user)
    problems = []
    if not (user.is_active and user.is_staff):
        problems.append(
            f"user: {user.get_username()!r} is not an active staff user; the console's roles need both"
        )
    if held is None:
        problems.append(f"user: {user.get_username()!r} has no role; add them to one of {', '.join(ROLES)}")
    chosen = role or held or ""
    if chosen not in ROLES:
        problems.append(f"role: {chosen!r} is not allowed; one of {', '.join(ROLES)}")
    elif held is not None and ROLES.index(chosen) > ROLES.index(held):
        problems.append(f"role: {chosen!r} is not allowed; at most the user's own role, {held}")
    problems += reach.stage_problems(stages)
    if PROD in stages and not _grants_prod(actor):
        problems.append(
            f"stages: prod is not allowed; only an admin gives a token prod, and {actor.name} is not one"
        )
    if len(patterns) > reach.PATTERNS_MAX:
        problems.append(
            f"environments: {len(patterns)} patterns is not allowed; at most {reach.PATTERNS_MAX}"
        )
    problems += [p for p in map(reach.pattern_problem, patterns[: reach.PATTERNS_MAX]) if p]
    if expires_at is not None and expires_at <= timezone.now():
        problems.append(f"expires: {expires_at:%Y-%m-%d %H:%M} UTC is in the past; a future date, or none")
    if problems:
        raise InvalidInput(f"cannot create an API token for {user.get_username()!r}", problems)
    lookup, value = credentials.new_token()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            lookup=lookup,
            digest=credentials.digest(value),
            role=chosen,
            read_only=read_only,
            stages=reach.ordered_stages(stages),
            patterns=list(dict.fromkeys(patterns)),
            expires_at=expires_at,
            created_by=actor.user,
        )
        audit(actor, "api_token.created", detail=_token_detail(token))
    return token, value


def _grants_prod(actor: Actor) -> bool:
    """Only an admin (or the CLI without a user, which acts as one) gives a token prod."""
    if actor.user is None:
        return actor.source == AuditEvent.Source.CLI
    return credentials.user_role(actor.user) == "admin" and actor.reach is None


def revoke_api_token(actor: Actor, token: ApiToken) -> ApiToken:
    """The token stops working at once; the row stays, for the audit trail's sake."""
    _require_token_admin(actor, "change")
    with transaction.atomic():
        done = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if not done:
            raise InvalidInput(f"API token {token.prefix} is already revoked")
        token.refresh_from_db()
        audit(actor, "api_token.revoked", detail=_token_detail(token))
    return token
