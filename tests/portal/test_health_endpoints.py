"""The portal's liveness and readiness endpoints (issue 19, item 6), against the real database and a
Redis database of this test run's own (ENVPORT_TEST_REDIS_URL)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import redis

from portal import health

REDIS_URL = os.environ.get("ENVPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
UNREACHABLE = "redis://:s3cret-password@127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def broker(settings) -> Iterator[redis.Redis]:
    """The portal's broker is this run's Redis database, with no heartbeat in it."""
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.ENVPORT_HEALTH_TIMEOUT_SECONDS = 0.5
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(health.HEARTBEAT_KEY)
    yield client
    client.delete(health.HEARTBEAT_KEY)
    client.close()


def test_healthz_is_alive_without_touching_any_dependency(client, settings) -> None:
    """Issue 19 item 6: liveness needs no database (this test may not use one) and no broker."""
    settings.CELERY_BROKER_URL = UNREACHABLE
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "alive"}
    assert "no-cache" in answer["Cache-Control"]
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_is_ready_with_database_broker_and_a_recent_worker(client, broker, settings) -> None:
    """Issue 19 item 6: each check named with its latency; a heartbeat written by a worker thread."""
    settings.ENVPORT_WORKER_HEARTBEAT_SECONDS = 0.05
    beating = health.HeartbeatThread("celery@test-host", 0.05)
    beating.start()
    try:
        deadline = time.monotonic() + 5
        while not broker.zscore(health.HEARTBEAT_KEY, "celery@test-host") and time.monotonic() < deadline:
            time.sleep(0.02)
        answer = client.get("/readyz")
    finally:
        beating.stop()
        beating.join(timeout=5)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["status"] == "ready"
    assert list(body["checks"]) == ["database", "broker", "worker"]
    for check in body["checks"].values():
        assert check["ok"] is True
        assert 0 <= check["latency_ms"] < 2000
    assert "1 worker(s) seen" in body["checks"]["worker"]["detail"]


@pytest.mark.django_db
def test_readyz_is_503_without_a_recent_worker(client, broker, settings) -> None:
    """Issue 19 item 6: a worker whose last heartbeat is older than the stale limit does not count."""
    settings.ENVPORT_WORKER_STALE_SECONDS = 30
    broker.zadd(health.HEARTBEAT_KEY, {"celery@old": time.time() - 31})
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready"
    assert body["checks"]["worker"] == {
        "ok": False,
        "latency_ms": body["checks"]["worker"]["latency_ms"],
        "detail": "no worker seen in the last 30 s",
    }
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_does_not_answer_and_says_nothing_secret(client, settings) -> None:
    """Issue 19 item 6: an unreachable broker fails fast (bounded) and its URL never appears."""
    settings.CELERY_BROKER_URL = UNREACHABLE
    settings.ENVPORT_HEALTH_TIMEOUT_SECONDS = 0.5
    started = time.monotonic()
    answer = client.get("/readyz")
    assert time.monotonic() - started < 5
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["broker"]["ok"] is False and checks["broker"]["detail"].startswith("failed: ")
    assert checks["worker"]["ok"] is False
    assert b"s3cret" not in answer.content and b"127.0.0.1:1" not in answer.content


def test_file_heartbeats_for_the_filesystem_broker(tmp_path) -> None:
    """Issue 19 item 6: without Redis, workers on this machine beat into files readiness reads."""
    store = health.FileHeartbeats(tmp_path / "beats")
    assert store.seen_since(0) == {}
    store.beat("celery@host/../../evil", time.time())
    store.beat("celery@old", time.time() - 100)
    seen = store.seen_since(time.time() - 10)
    assert list(seen) == ["celery@host_.._.._evil"]  # a worker name cannot leave the folder
    assert sorted(p.name for p in (tmp_path / "beats").iterdir()) == ["celery@host_.._.._evil", "celery@old"]
