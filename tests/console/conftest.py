"""Fixtures of the console's tests: users in each role, and runs that never need a broker.

- `engine`, `make_env`, `moto_target`: the portal's own fixtures (the scripted engine replaces AWS
  where a test is about the console's pages, not about provisioning).
- `users` / `login`: one staff user per role (viewer, operator, admin: the groups the migration
  made), and a test client logged in as one of them.
- `dispatched`: the console's `dispatch` records what it would send to a worker instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from portal.console import views
from tests.portal.conftest import cli, engine, make_env, moto_target  # noqa: F401  (fixtures)

ROLES = ("viewer", "operator", "admin")


@pytest.fixture
def users(db: Any) -> dict[str, User]:
    made = {}
    for role in ROLES:
        user = User.objects.create_user(role, f"{role}@example.com", "pw-" + role, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        made[role] = user
    return made


@pytest.fixture
def login(users: dict[str, User]) -> Any:
    def client_for(role: str | None) -> Client:
        client = Client()
        if role is not None:
            client.force_login(users[role])
        return client

    return client_for


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    monkeypatch.setattr(views, "dispatch", sent.append)
    return sent
