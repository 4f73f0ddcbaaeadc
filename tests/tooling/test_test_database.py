"""`make test` leaves the machine as it found it: the PostgreSQL test database is dropped at the
end even when a test left a session open on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CASE = Path(__file__).with_name("leaky_session_case.py")

pytestmark = pytest.mark.slow


def _databases(url: str) -> list[str]:
    """The server's databases, read from its maintenance database."""
    import dj_database_url
    import psycopg

    db = dj_database_url.parse(url)
    with psycopg.connect(
        host=str(db["HOST"]),
        port=int(db["PORT"] or 5432),
        user=str(db["USER"]),
        password=str(db["PASSWORD"] or ""),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        return [str(row[0]) for row in conn.execute("SELECT datname FROM pg_database")]


def test_the_test_database_is_dropped_though_a_session_was_left_open() -> None:
    """Issue 23: the suite ended with "database test_envport is being accessed by other users" and
    the test database left behind."""
    url = os.environ.get("ENVPORT_TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip(
            "the test database is SQLite here; CI runs this on PostgreSQL (ENVPORT_TEST_DATABASE_URL)"
        )
    own = url.rsplit("/", 1)[0] + "/envport_dropcheck"
    env = {**os.environ, "ENVPORT_TEST_DATABASE_URL": own}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::pytest.PytestWarning",
            str(CASE),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "being accessed by other users" not in done.stdout + done.stderr
    assert "test_envport_dropcheck" not in _databases(url)
