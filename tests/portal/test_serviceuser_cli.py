"""`manage.py serviceuser create`: the pipeline's user that docs/pipelines.md starts with (issue 23:
the document's first command failed because no user `ci-bot` existed and nothing said how to
make one)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from portal.models import AuditEvent
from portal.tokens.credentials import user_role

pytestmark = pytest.mark.django_db


def test_a_service_user_holds_its_role_cannot_sign_in_and_gets_a_token(cli: Any) -> None:
    """Issue 23: the documented sequence, serviceuser then apitoken, works as written."""
    made = cli("serviceuser", "create", "ci-bot", "--role", "operator")
    assert made.code == 0, made.err
    user = User.objects.get(username="ci-bot")
    assert user_role(user) == "operator" and user.is_staff and not user.has_usable_password()
    assert AuditEvent.objects.filter(action="serviceuser.created").exists()
    token = cli(
        "apitoken", "create", "ci-bot", "--role", "operator", "--stages", "dev", "--name", "github-actions"
    )
    assert token.code == 0, token.err
    assert token.out.strip().startswith("envp_")
    again = cli("serviceuser", "create", "ci-bot", "--role", "operator")
    assert again.code == 0 and "exists already" in again.out


def test_hostile_names_and_roles_are_refused_with_what_is_allowed(cli: Any) -> None:
    # every problem listed, nothing created
    refused = cli("serviceuser", "create", "Robert'); DROP TABLE users;--" + "x" * 500, "--role", "root")
    assert refused.code == 2
    assert "name:" in refused.err and "lower-case letters" in refused.err
    assert "role: 'root' is not allowed; one of viewer, operator, admin" in refused.err
    assert not User.objects.exists()
    User.objects.create_user("alice", password="a-real-password", is_staff=True)
    taken = cli("serviceuser", "create", "alice", "--role", "operator")
    assert taken.code == 2 and "exists already" in taken.err
