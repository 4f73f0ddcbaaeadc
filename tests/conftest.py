"""Shared test set-up: no test may ever reach a real AWS account."""

import os

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


from collections.abc import Iterator  # noqa: E402  (after the credentials above)
from typing import Any  # noqa: E402

import pytest  # noqa: E402


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
