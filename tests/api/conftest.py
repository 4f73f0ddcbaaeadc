"""Fixtures of the API's tests: users in each role, tokens for them, and clients that carry one.

- `users`: one staff user per role (the groups the migrations made);
- `token`: `token(role, **scope)` makes an API token through the service (as the CLI does) and
  returns its value (every stage unless `stages` says otherwise);
- `api`: `api(token_value)` is a test client that sends `Authorization: Bearer ...`;
- `dispatched`: the API's `dispatch` records the runs it would send to a worker.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client

from portal.api import views
from portal.services import tokens as token_service
from portal.services.base import Actor
from tests.portal.conftest import cli, cloud, engine, local_target, make_env, moto_target  # noqa: F401  (fixtures)

ROLES = ("viewer", "operator", "admin")


@pytest.fixture(autouse=True)
def _fresh_throttle() -> None:
    cache.clear()  # the rate limit's counters: each test starts with none


@pytest.fixture
def users(db: Any) -> dict[str, User]:
    made = {}
    for role in ROLES:
        user = User.objects.create_user(role, f"{role}@example.com", "pw-" + role, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        made[role] = user
    return made


@pytest.fixture
def token(users: dict[str, User]) -> Any:
    def make(user: str, **scope: Any) -> str:
        scope.setdefault("stages", ("dev", "staging", "prod"))  # every stage unless the test says
        _, value = token_service.create_api_token(Actor.cli(), users[user], **scope)
        return value

    return make


class Api:
    """A test client that authenticates every request with one token."""

    def __init__(self, value: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {value}"} if value else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            path, data or {}, content_type="application/json", headers={**self.headers, **(headers or {})}
        )

    def upload(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data, headers=self.headers)

    def patch(self, path: str, data: Any) -> Any:
        return self.client.patch(path, data, content_type="application/json", headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)


@pytest.fixture
def api() -> Any:
    return Api


@pytest.fixture
def dispatched(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    sent: list[Any] = []
    monkeypatch.setattr(views, "dispatch", sent.append)
    return sent
