"""The portal's own metrics at /metrics (issue 19, item 6): read from the real database, this run's
Redis database (ENVPORT_TEST_REDIS_URL) and a real rate limiter at scrape time, parsed with
prometheus_client's own parser."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from portal import fleet_limits, observability
from portal.models import Deployment, Environment
from portal.notifications.models import Delivery, NotificationChannel
from provisioning.ratelimit import OPERATOR, SWEEP, LocalBuckets, QuotaTable, RateLimiter

REDIS_URL = os.environ.get("ENVPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def broker(settings) -> Iterator[redis.Redis]:
    settings.CELERY_BROKER_URL = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    names = ["runs", "sweeps", "notifications", "runs\x06\x163"]
    client.delete(*names)
    yield client
    client.delete(*names)
    client.close()


def scrape(client, **extra) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", **extra)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _run(env: Environment, kind: str, status: str, seconds: float | None = None) -> Deployment:
    run = Deployment.objects.create(environment=env, kind=kind, status=status)
    if seconds is not None:
        started = timezone.now() - dt.timedelta(hours=1)
        Deployment.objects.filter(pk=run.pk).update(
            started_at=started, finished_at=started + dt.timedelta(seconds=seconds)
        )
    return run


@pytest.mark.django_db
def test_runs_durations_queues_and_deliveries_after_creating_them(client, broker) -> None:
    """Issue 19 item 6: runs by kind and status, run durations, queue depths, deliveries by outcome."""
    envs = [Environment.objects.create(suffix=f"m{i}", stage="dev") for i in range(3)]
    _run(envs[0], "provision", "succeeded", 40)
    _run(envs[0], "provision", "failed", 400)
    _run(envs[1], "provision", "succeeded", 4)
    _run(envs[1], "verify", "succeeded", 2.5)
    _run(envs[2], "release", "running")
    channel = NotificationChannel.objects.create(name="hook", kind="webhook", target="https://example.com/h")
    for status in ("delivered", "delivered", "failed", "retrying"):
        Delivery.objects.create(channel=channel, event="run.failed", payload={}, status=status)
    broker.rpush("runs", "a", "b")
    broker.rpush("runs\x06\x163", "c")  # a priority step of the same queue
    broker.rpush("sweeps", "d")

    samples = scrape(client)

    assert samples[("envport_runs", (("kind", "provision"), ("status", "succeeded")))] == 2
    assert samples[("envport_runs", (("kind", "provision"), ("status", "failed")))] == 1
    assert samples[("envport_runs", (("kind", "release"), ("status", "running")))] == 1
    provision = (("kind", "provision"),)
    assert samples[("envport_run_duration_seconds_count", provision)] == 3
    assert samples[("envport_run_duration_seconds_sum", provision)] == pytest.approx(444)
    assert samples[("envport_run_duration_seconds_bucket", (("kind", "provision"), ("le", "5.0")))] == 1
    assert samples[("envport_run_duration_seconds_bucket", (("kind", "provision"), ("le", "60.0")))] == 2
    assert samples[("envport_run_duration_seconds_bucket", (("kind", "provision"), ("le", "+Inf")))] == 3
    assert samples[("envport_run_duration_seconds_bucket", (("kind", "verify"), ("le", "5.0")))] == 1
    assert ("envport_run_duration_seconds_count", (("kind", "release"),)) not in samples  # still running
    assert samples[("envport_queue_depth", (("queue", "runs"),))] == 3
    assert samples[("envport_queue_depth", (("queue", "sweeps"),))] == 1
    assert samples[("envport_queue_depth", (("queue", "notifications"),))] == 0
    assert samples[("envport_notification_deliveries", (("status", "delivered"),))] == 2
    assert samples[("envport_notification_deliveries", (("status", "failed"),))] == 1
    for source in ("database", "redis", "quotas"):
        assert samples[("envport_metrics_source_up", (("source", source),))] == 1


@pytest.mark.django_db
def test_the_scrape_costs_a_fixed_number_of_queries(client, broker) -> None:
    """Issue 19 item 6: aggregate queries only, however many runs there are."""
    env = Environment.objects.create(suffix="cost", stage="dev")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            scrape(client)
        return len(captured)

    few = queries()
    for i in range(30):
        _run(env, "verify", "succeeded", i)
    assert queries() == few == 3


@pytest.mark.heavy
@pytest.mark.django_db
def test_quota_waits_per_quota_and_class_from_the_limiter(client, broker, monkeypatch) -> None:
    """Issue 19 item 6: calls waiting on the rate limiter, by quota and priority class."""
    release = threading.Event()
    table = QuotaTable({"default": {"apigateway.DeleteRestApi": [1, 1, 1]}})
    limiter = RateLimiter(table, LocalBuckets(), margin=0, jitter_s=0, sleep=lambda s: release.wait(10))
    monkeypatch.setattr(fleet_limits, "limiter", lambda: limiter)
    limiter.acquire("123456789012", "us-east-1", "apigateway", "DeleteRestApi", OPERATOR)  # empties it
    callers = [
        threading.Thread(
            target=limiter.acquire, args=("123456789012", "us-east-1", "apigateway", "DeleteRestApi", p)
        )
        for p in (OPERATOR, SWEEP, SWEEP)
    ]
    try:
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 10
        while sum(s.waiting_total for s in limiter.snapshot()) < 3:
            assert time.monotonic() < deadline, "the calls never started waiting"
            time.sleep(0.01)
        samples = scrape(client)
    finally:
        release.set()
        for caller in callers:
            caller.join(10)
    delete = "apigateway.DeleteRestApi"
    assert samples[("envport_quota_waiting_calls", (("priority", "operator"), ("quota", delete)))] == 1
    assert samples[("envport_quota_waiting_calls", (("priority", "sweep"), ("quota", delete)))] == 2
    assert samples[("envport_quota_oldest_wait_seconds", (("quota", delete),))] > 0


@pytest.mark.django_db
def test_an_unreadable_source_is_reported_and_the_scrape_still_answers(client, settings) -> None:
    """Issue 19 item 6: Redis down: no queue depths, envport_metrics_source_up{source="redis"} 0."""
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.ENVPORT_HEALTH_TIMEOUT_SECONDS = 0.3
    samples = scrape(client)
    assert samples[("envport_metrics_source_up", (("source", "redis"),))] == 0
    assert samples[("envport_metrics_source_up", (("source", "database"),))] == 1
    assert not any(name == "envport_queue_depth" for name, _ in samples)


@pytest.mark.django_db
def test_metrics_are_refused_to_other_addresses_and_wrong_tokens(client, settings, broker) -> None:
    """Issue 19 item 6: loopback by default; elsewhere the bearer token or an allowed network."""
    far = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", **far)
    assert refused.status_code == 403 and b"ENVPORT_METRICS_ALLOWED_ADDRESSES" in refused.content
    assert client.get("/metrics", **far, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403  # not trusted

    settings.ENVPORT_METRICS_ALLOWED_ADDRESSES = ("203.0.113.0/24",)
    assert client.get("/metrics", **far).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.1").status_code == 403

    settings.ENVPORT_METRICS_TOKEN = TOKEN
    settings.ENVPORT_METRICS_ALLOWED_ADDRESSES = ()
    missing = client.get("/metrics", **far)
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", **far, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", **far, HTTP_AUTHORIZATION="Bearer " + "x" * 5000).status_code == 401
    assert client.get("/metrics", **far, HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert scrape(client, **far, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_address_rules() -> None:
    """Issue 19 item 6: addresses and networks, IPv6 included; garbage is never allowed."""
    allowed = ("127.0.0.1", "::1", "10.0.0.0/8", "not-an-address")
    assert observability.address_allowed("10.2.3.4", allowed)
    assert observability.address_allowed("::1", allowed)
    assert not observability.address_allowed("11.0.0.1", allowed)
    assert not observability.address_allowed("", allowed)
    assert not observability.address_allowed("127.0.0.1; DROP", allowed)
