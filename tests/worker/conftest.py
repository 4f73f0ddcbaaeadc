"""Real processes for the worker tests: the local cloud, Celery workers, beat and the CLI.

Every process runs in its own process group (so a SIGKILL reaches its children too), writes its
output to a log file under the test's temporary folder, and is killed in teardown. When a test
fails, the logs of its processes are printed (pytest shows them under "Captured stdout teardown").

The processes share the test's database, so the tests are `transaction=True` (the processes see
committed rows only):

- PostgreSQL (ENVPORT_TEST_DATABASE_URL=postgres://...): pytest-django's test database
  (`test_<name>`); the processes get its URL as DATABASE_URL.
- SQLite (no ENVPORT_TEST_DATABASE_URL): pytest-django's default SQLite test database lives in
  memory, which no other process can see; when worker tests are selected, the session's test
  database becomes a file in a temporary folder instead (see `pytest_collection_modifyitems`).

The broker is Redis on a database number of its own (ENVPORT_TEST_REDIS_URL, by default
redis://127.0.0.1:6379/5), flushed before and after each test, so a developer's queue on /0 is
never touched. Without Redis the process tests fail, saying how to start it.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_procs import Cloud, Portal, Processes, base_env, database_url, redis_test_url, wait_for

WORKER_DIR = Path(__file__).resolve().parent
# What `python -m localcloud` prints once it listens (localcloud/__main__.py).
ENDPOINT_LINE = re.compile(r"AWS endpoint URL: (http://\S+)")


# --- the database the processes share ------------------------------------------------------------
def _needs_shared_db(item: pytest.Item) -> bool:
    """A test here that starts envport processes (it uses the `portal` fixture)."""
    return WORKER_DIR in Path(str(item.path)).parents and "portal" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On SQLite, make the session's test database a file when a worker test is selected."""
    if not any(_needs_shared_db(item) for item in items):
        return
    from django.db import connections

    db = connections["default"].settings_dict
    if not db["ENGINE"].endswith("sqlite3"):
        return
    test = db.setdefault("TEST", {})
    name = str(test.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        folder = tempfile.mkdtemp(prefix="envport-worker-db-")
        test["NAME"] = str(Path(folder) / "test-envport.sqlite3")
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of the tests' own, empty before and after the test."""
    import redis

    url = redis_test_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        # Redis is part of the test set-up (.ci/run starts it): its absence is a failure, not a skip.
        pytest.fail(f"Redis does not answer at {url} ({exc}); start it: redis-server --daemonize yes")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Processes]:
    folder = tmp_path / "procs"
    folder.mkdir()
    procs = Processes(folder)
    try:
        yield procs
    finally:
        procs.stop_all()
        if request.node.stash.get(_FAILED, False):
            print(procs.dump())


# --- the local cloud (one per module: each test uses its own environment names) --------------------
@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """`python -m localcloud --port 0` in a process of its own (state in memory, gone at the end)."""
    procs = Processes(tmp_path_factory.mktemp("localcloud"))
    env = base_env()
    # Port 0: the server binds a free port itself and prints it (no port found free here and bound
    # there later, which two xdist workers could both find).
    proc = procs.start("localcloud", [sys.executable, "-m", "localcloud", "--port", "0"], env)

    def endpoint() -> str | None:
        if not proc.alive():
            pytest.fail("the local cloud exited:\n" + proc.text()[-4000:])
        found = ENDPOINT_LINE.search(proc.text())
        return found[1] if found else None

    def answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    try:
        url = wait_for("the local cloud to print its address", endpoint, timeout=60, interval=0.1)
        wait_for("the local cloud to answer", lambda: answers(url), timeout=60, interval=0.2)
        yield Cloud(url)
    finally:
        procs.stop_all()


@pytest.fixture
def portal(redis_url: str, cloud: Cloud, processes: Processes, tmp_path: Path) -> Portal:
    """Needs `@pytest.mark.django_db(transaction=True)`: the processes see committed rows only.
    Teardown order: processes stop first, then Redis is flushed, then the database."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    return Portal(processes, cloud, redis_url, database_url(), var_dir)
