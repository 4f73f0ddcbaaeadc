"""Migration 0006_authz_token_scopes: existing tokens get the narrowest equivalent scope, never a
wider one (issue 17, item 1).

The migration runs forwards and backwards on a database of its own (a SQLite file, through
`manage.py migrate` in a subprocess), so the test database the other tests share is untouched.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BEFORE, AFTER = "0005_api_tokens_notifications", "0006_authz_token_scopes"


def _manage(db: Path, *args: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ENVPORT_", "DJANGO_", "DATABASE_", "CELERY_", "PYTEST"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": f"sqlite:///{db}",
            "ENVPORT_VAR_DIR": str(db.parent / "var"),
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
    )
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.heavy
def test_old_tokens_lose_prod_and_keep_their_pattern(tmp_path):
    """probe: an old `pr*` token reached prod. After the migration it reaches dev and staging
    only, by the same pattern; a token with no pattern reaches every name of dev and staging; each
    migrated token leaves an audit event with its scope before and after. Going back never widens:
    a token the old single pattern cannot express is revoked."""
    db = tmp_path / "envport.sqlite3"
    _manage(db, "migrate", "--no-input", "portal", BEFORE)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email,"
            " is_staff, is_active, date_joined) VALUES (1, '!', 0, 'ci-bot', '', '', '', 1, 1, '2026-01-01')"
        )
        for pk, lookup, pattern in ((1, "a" * 12, "pr*"), (2, "b" * 12, "")):
            conn.execute(
                "INSERT INTO portal_apitoken (id, user_id, name, lookup, digest, role, read_only,"
                " environments, created_at) VALUES (?, 1, '', ?, ?, 'operator', 0, ?, '2026-01-01')",
                (pk, lookup, "0" * 64, pattern),
            )

    _manage(db, "migrate", "--no-input", "portal", AFTER)
    with sqlite3.connect(db) as conn:
        rows = dict(
            (pk, (json.loads(stages), json.loads(patterns)))
            for pk, stages, patterns in conn.execute("SELECT id, stages, patterns FROM portal_apitoken")
        )
        events = [
            json.loads(detail)
            for (detail,) in conn.execute(
                "SELECT detail FROM portal_auditevent WHERE action = 'api_token.scope_migrated' ORDER BY id"
            )
        ]
    assert rows == {1: (["dev", "staging"], ["pr*"]), 2: (["dev", "staging"], [])}
    assert [(e["prefix"], e["before"]["environments"], e["after"]) for e in events] == [
        ("envp_" + "a" * 12, "pr*", {"stages": "dev,staging", "environments": "pr*"}),
        ("envp_" + "b" * 12, "*", {"stages": "dev,staging", "environments": "*"}),
    ]

    _manage(db, "migrate", "--no-input", "portal", BEFORE)
    with sqlite3.connect(db) as conn:
        back = dict(conn.execute("SELECT id, environments FROM portal_apitoken WHERE revoked_at IS NOT NULL"))
    # dev,staging cannot be said by the old field without reaching prod again: stopped instead
    assert back == {1: "pr*", 2: ""}
