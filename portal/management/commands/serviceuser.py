"""manage.py serviceuser create NAME --role viewer|operator|admin

A user for a pipeline or another service: it holds a role (its group) for the API tokens made
for it (`apitoken create NAME`), and it cannot sign in to the console (no usable password).
Audited. Exit 0 created (or it exists already with that role), 2 refused (every problem listed).
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from portal.management.cli import EnvportCommand
from portal.services import audit
from portal.services.base import Actor
from portal.tokens.credentials import user_role
from portal.tokens.models import ROLES

NAME = re.compile(r"[a-z][a-z0-9-]{1,38}[a-z0-9]")
NAME_RULE = "3 to 40 characters: lower-case letters, digits and hyphens, starting with a letter (ci-bot)"


class Command(EnvportCommand):
    help = (
        "Create a service user (a pipeline's) with a role, for API tokens; it cannot sign in to the "
        "console. Exit 0 created or already there with that role, 2 refused."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="create")
        create = sub.add_parser("create", help="a user that holds ROLE and has no usable password")
        create.add_argument("name", help="its user name (ci-bot)")
        create.add_argument("--role", required=True, help=" | ".join(ROLES))

    def handle(self, *args: Any, **opts: Any) -> None:
        name, role = str(opts["name"]), str(opts["role"])
        problems = []
        if not NAME.fullmatch(name):
            problems.append(f"name: {name[:60]!r} is not allowed; {NAME_RULE}")
        if role not in ROLES:
            problems.append(f"role: {role[:30]!r} is not allowed; one of {', '.join(ROLES)}")
        if problems:
            self.refuse("cannot create the service user", problems)
        users = get_user_model()
        existing = users.objects.filter(username=name).first()
        if existing is not None:
            held = user_role(existing)
            if held != role or existing.has_usable_password():
                self.refuse(
                    f"user {name} exists already (role {held or 'none'}); "
                    "give the pipeline a name of its own",
                    [f"name: {name!r} is not allowed; a name no user has"],
                )
            self.stdout.write(f"service user {name} exists already with role {role}")
            return
        with transaction.atomic():
            user = users.objects.create_user(name, is_staff=True)  # no password: it cannot sign in
            user.groups.add(Group.objects.get(name=role))
            audit.audit(Actor.cli(), "serviceuser.created", detail={"user": name, "role": role})
        self.stdout.write(
            f"service user {name} created with role {role}; make its token: "
            f"manage.py apitoken create {name} --role {role} --stages dev"
        )
