"""manage.py apitoken create USER --stages dev[,staging][,prod] [--environments PATTERN]...
                     [--role R] [--read-only] [--expires DATE] [--name NAME]
                 | list [--json] | revoke ID

`create` prints the token once, on stdout (nothing else does: it is stored as a SHA-256 only);
creation and revocation are audited. A token reaches the stages named (prod only if asked for,
and only the CLI or an admin may ask) and, with --environments, only the names matching one of
the patterns inside those stages (anchored globs: `pr[0-9]*`). Exit 0 done, 2 refused (every
problem listed).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from portal.management.cli import EnvportCommand
from portal.management.commands.env import parse_expires
from portal.services import tokens as token_service
from portal.services.base import ActionError, Actor
from portal.tokens.models import ROLES, ApiToken
from portal.tokens.reach import PATTERN_ALLOWED, STAGES


def token_row(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "user": token.user.get_username(),
        "name": token.name,
        **token_service.token_reach(token),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "state": token.state,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


class Command(EnvportCommand):
    help = "Create, list and revoke API tokens. Exit 0 done, 2 refused (every problem listed)."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = sub.add_parser("create", help="a new token for USER, printed once")
        create.add_argument("user", help="the user the token acts as (their role is the ceiling)")
        create.add_argument("--role", help="narrow it to " + " | ".join(ROLES) + " (default: the user's)")
        create.add_argument("--read-only", action="store_true", help="reads only")
        create.add_argument(
            "--stages",
            required=True,
            help=f"the stages it reaches, comma-separated, of {', '.join(STAGES)} (dev,staging); "
            "prod only when you mean it (and only an admin may give it)",
        )
        create.add_argument(
            "--environments",
            action="append",
            default=[],
            metavar="PATTERN",
            help=f"only names matching PATTERN inside those stages (repeatable); {PATTERN_ALLOWED}",
        )
        create.add_argument("--expires", help="a date, an ISO 8601 moment or a delay (+90d); default none")
        create.add_argument("--name", default="", help="what it is for (a pipeline's name)")
        listing = sub.add_parser("list", help="every token: prefix, user, scope, state (never the token)")
        self.add_json(listing)
        revoke = sub.add_parser("revoke", help="stop a token at once")
        revoke.add_argument("id", help="the token's id (from list) or its envp_ prefix")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, f"handle_{opts['action']}")(opts)

    def handle_create(self, opts: dict[str, Any]) -> None:
        user = get_user_model().objects.filter(username=opts["user"]).first()
        expires, problems = parse_expires(opts["expires"])
        if user is None:
            problems.insert(0, f"user: {opts['user']!r} is not allowed; the name of an existing user")
        if problems or user is None:
            self.refuse("cannot create an API token", problems)
        try:
            token, value = token_service.create_api_token(
                Actor.cli(),
                user,
                role=opts["role"],
                read_only=opts["read_only"],
                stages=[s.strip() for s in opts["stages"].split(",") if s.strip()],
                environments=opts["environments"],
                expires_at=expires,
                name=opts["name"],
            )
        except ActionError as exc:
            self.refuse(exc.message, exc.problems)
        self.stderr.write(
            f"API token #{token.pk} for {user.get_username()} ({token.role}"
            f"{', read-only' if token.read_only else ''}, {token.scope}, "
            f"expires {token.expires_at.replace(microsecond=0) if token.expires_at else 'never'}). "
            "It is shown once; store it now:"
        )
        self.stdout.write(value)

    def handle_list(self, opts: dict[str, Any]) -> None:
        rows = [token_row(t) for t in ApiToken.objects.select_related("user")]
        if opts["json"]:
            self.print_json(rows)
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']:>4}  {row['prefix']}…  {row['user']:<16} {row['role']:<8} "
                f"{'ro' if row['read_only'] else 'rw'}  {row['state']:<8} "
                f"expires {row['expires_at'] or 'never':<25} {row['scope']}"
            )

    def handle_revoke(self, opts: dict[str, Any]) -> None:
        ident = opts["id"].strip()
        lookup = ident.removeprefix("envp_").split("_", 1)[0]
        token = (
            ApiToken.objects.select_related("user").filter(pk=int(ident)).first()
            if ident.isdigit()
            else ApiToken.objects.select_related("user").filter(lookup=lookup).first()
        )
        if token is None:
            self.refuse(
                f"no API token {ident!r}",
                [f"id: {ident!r} is not allowed; an id or prefix from `apitoken list`"],
            )
        try:
            token_service.revoke_api_token(Actor.cli(), token)
        except ActionError as exc:
            self.refuse(exc.message, exc.problems)
        self.stdout.write(f"API token #{token.pk} ({token.prefix}…) revoked")
