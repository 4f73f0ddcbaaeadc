"""Shared test set-up: no test may ever reach a real AWS account."""

import gc
import os
from collections.abc import Iterator
from typing import Any

import pytest

# Dummy credentials and a fixed region, set before boto3 is imported anywhere, so that a
# test that forgot its moto fixture fails against an unreachable endpoint rather than
# touching a real account with credentials from the developer's environment.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_key, None)
# moto builds EC2's backend with 1,301 public AMIs (each with a volume and a snapshot) whenever
# it resets one, which every moto fixture and local cloud does on start and stop: about 0.35 s
# of CPU per test whose environment touched EC2 (the network resource always does). Nothing here
# launches an instance or reads an image.
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"

# Under pytest-xdist each worker process gets a Redis database of its own (the quota, shared-read
# and worker tests flush or fill theirs), unless the caller chose one. pytest-django already gives
# each worker its own test database (test_envport_gw0, ...).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and not os.environ.get("ENVPORT_TEST_REDIS_URL"):
    os.environ["ENVPORT_TEST_REDIS_URL"] = f"redis://127.0.0.1:6379/{2 + int(_WORKER[2:]) % 10}"


# Before pytest-django's own reordering (its hook is tryfirst too; a conftest's runs before a
# plugin's), which sorts stably into database, transactional and other tests, so this order holds
# inside each of its groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that hold a slow test first, then files with a heavy one, each file's tests in order.

    pytest-xdist hands tests out in this order, so the long ones start early and the end of a run
    is short tests spread over every process, rather than one process finishing a long test alone.
    """
    rank: dict[Any, int] = {}
    for item in items:
        mark = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("heavy") else 2
        rank[item.path] = min(rank.get(item.path, 2), mark)
    items.sort(key=lambda item: rank[item.path])


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything collection imported (Django, botocore's models, moto, the project) is kept for
    the whole run: `gc.freeze()` moves it out of the collector's reach, so the full collections
    that a test's garbage sets off no longer walk a million objects that can never be freed. A
    moto apply spent about a third of its CPU in those walks (docs/performance.md, "The test
    suite")."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Every test starts with an empty cache: the failed-authentication counters are per client
    address (127.0.0.1 for every test client), the rate and upload counters per token, so one
    test's refusals must not lock the next test out."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test database, and on PostgreSQL its sessions ended before it is dropped.

    DROP DATABASE refuses while any session is connected ("being accessed by other users"), and
    a suite leaves some behind: connections a live server's threads, a browser test's greenlet
    and a run's worker thread opened, and those of worker processes killed by their tests, which
    the server notices late. Without this the suite ended with the test database left in place
    (issue 23: `make test` leaves the machine as it found it).
    """
    yield
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        name = connection.settings_dict["NAME"]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
        connections.close_all()


@pytest.fixture(scope="session")
def _migrated_roles(django_db_setup: None, django_db_blocker: Any) -> dict[str, list[tuple[str, str]]]:
    """The roles the data migrations made (viewer, operator, admin), with their permissions, as
    the migrated test database holds them before any transactional test has flushed it."""
    from django.contrib.auth.models import Group

    with django_db_blocker.unblock():
        return {
            group.name: list(group.permissions.values_list("content_type__app_label", "codename"))
            for group in Group.objects.all()
        }


@pytest.fixture(autouse=True)
def _roles_survive_flushes(request: pytest.FixtureRequest) -> None:
    """A transactional test ends by flushing the database: the content types and permissions come
    back (post_migrate), the roles that data migrations made do not, so every later transactional
    test of the process would find no roles. Each one starts with them as migrated."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        return
    from django.contrib.auth.models import Group, Permission

    roles = request.getfixturevalue("_migrated_roles")
    request.getfixturevalue("transactional_db")
    for name, perms in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        if not group.permissions.exists():
            find = Permission.objects.get
            group.permissions.set([find(content_type__app_label=app, codename=code) for app, code in perms])
