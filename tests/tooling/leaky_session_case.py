"""Run only by tests/tooling/test_test_database.py, in a pytest of its own (not a test_ file, so the
suite does not collect it): a test that leaves a session open on the test database, as a live
server's thread or a browser test's greenlet does."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)
_HOLD = threading.Event()  # never set: the thread, and its connection, live until the process ends


def test_a_thread_keeps_its_connection_open() -> None:
    opened = threading.Event()

    def hold() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        opened.set()
        _HOLD.wait()

    threading.Thread(target=hold, daemon=True).start()
    assert opened.wait(30)
