"""Migration 0006_authz_token_scopes: existing tokens get the narrowest equivalent scope, never a
wider one (issue 17, item 1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("portal", "0005_api_tokens_notifications")]
AFTER = [("portal", "0006_authz_token_scopes")]


def _migrate(target: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_old_tokens_lose_prod_and_keep_their_pattern():
    """probe: an old `pr*` token reached prod. After the migration it reaches dev and staging
    only, by the same pattern; a token with no pattern reaches every name of dev and staging; every
    migrated token leaves an audit event with its scope before and after. Going back never widens:
    a token the old field cannot express is revoked."""
    old = _migrate(BEFORE)
    try:
        User = old.get_model("auth", "User")
        ApiToken = old.get_model("portal", "ApiToken")
        user = User.objects.create(username="ci-bot", is_staff=True)
        for lookup, pattern, role in (("a" * 12, "pr*", "operator"), ("b" * 12, "", "admin")):
            ApiToken.objects.create(
                user=user, lookup=lookup, digest="0" * 64, role=role, environments=pattern
            )

        new = _migrate(AFTER)
        tokens = {t.lookup: t for t in new.get_model("portal", "ApiToken").objects.all()}
        assert (tokens["a" * 12].stages, tokens["a" * 12].patterns) == (["dev", "staging"], ["pr*"])
        assert (tokens["b" * 12].stages, tokens["b" * 12].patterns) == (["dev", "staging"], [])
        events = new.get_model("portal", "AuditEvent").objects.filter(action="api_token.scope_migrated")
        assert sorted(e.detail["after"]["environments"] for e in events) == ["*", "pr*"]
        assert {e.detail["before"]["stages"] for e in events} == {"every stage"}
        assert {e.detail["after"]["stages"] for e in events} == {"dev,staging"}

        back = _migrate(BEFORE)
        rows = {t.lookup: t for t in back.get_model("portal", "ApiToken").objects.all()}
        # dev,staging cannot be said by the old field without reaching prod again: stopped instead
        assert all(t.revoked_at is not None for t in rows.values())
        assert rows["a" * 12].environments == "pr*"
    finally:
        _migrate(AFTER)
