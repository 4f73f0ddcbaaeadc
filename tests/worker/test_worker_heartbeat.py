"""A real Celery worker writes the heartbeat /readyz reads (issue 19, item 6): ready while it runs,
not ready once it stopped and its last beat went stale."""

from __future__ import annotations

import time

import pytest
from worker_procs import Portal, wait_for

from portal import health

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_running_worker_makes_the_portal_ready_and_a_stopped_one_does_not(portal: Portal, settings) -> None:
    """Issue 19 item 6: the worker_ready signal starts the heartbeat; shutdown stops it."""
    settings.CELERY_BROKER_URL = portal.redis_url
    settings.ENVPORT_WORKER_STALE_SECONDS = 2.0
    assert health.check_worker().ok is False  # nothing has beaten yet

    worker = portal.worker("beating", ENVPORT_WORKER_HEARTBEAT_SECONDS="0.3")
    wait_for("the worker's heartbeat", lambda: health.check_worker().ok, timeout=30, interval=0.1)
    ready, checks = health.readiness()
    assert ready, [c.to_dict() for c in checks]
    seen = health.heartbeats().seen_since(time.time() - 2)
    assert [name for name in seen if name.startswith("beating-")], seen

    worker.stop()
    wait_for("the heartbeat to go stale", lambda: not health.check_worker().ok, timeout=30, interval=0.2)
    assert health.check_worker().detail == "no worker seen in the last 2 s"
