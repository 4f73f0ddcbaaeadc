"""The limiter's read-only snapshot (R-FLEET-1), what the console shows: per bucket its tokens left,
its rate and burst, and the operator and sweep calls waiting on it, in either store. The Redis store
answers from every worker's waiting calls (here: threads with their own limiter each)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from provisioning.ratelimit import OPERATOR, SWEEP, LocalBuckets, QuotaTable, RateLimiter, RedisBuckets

REDIS_URL = os.environ.get("ENVPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
ACCOUNT, REGION = "123456789012", "eu-west-1"


def _stores() -> list[Any]:
    return [
        pytest.param(lambda: LocalBuckets(), id="process"),
        pytest.param(
            lambda: RedisBuckets.from_url(REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:"), id="redis"
        ),
    ]


# R-FLEET-1
@pytest.mark.heavy
@pytest.mark.parametrize("make", _stores())
def test_snapshot_shows_levels_and_waiting_calls_and_takes_nothing(make):
    buckets, release = make(), threading.Event()
    # a second "worker" on the same store: its waits are listed too (in Redis, across processes)
    table = QuotaTable({"default": {"apigateway.DeleteRestApi": [1, 1, 1]}})  # 1 per s: a short test
    limiter = RateLimiter(table, buckets, margin=0, jitter_s=0, sleep=lambda s: release.wait(10))
    assert limiter.snapshot() == []
    limiter.acquire(ACCOUNT, REGION, "apigateway", "DeleteRestApi", OPERATOR)  # a bucket of one: empty
    callers = [
        threading.Thread(
            target=limiter.acquire, args=(ACCOUNT, REGION, "apigateway", "DeleteRestApi", priority, who)
        )
        for priority, who in ((OPERATOR, "deployment:7/rest_api"), (SWEEP, ""), (SWEEP, "deployment:9/x"))
    ]
    try:
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 10
        while sum(s.waiting_total for s in limiter.snapshot()) < 3:
            assert time.monotonic() < deadline, "the calls never started waiting"
            time.sleep(0.01)
        states = {s.quota.name: s for s in limiter.snapshot()}
        delete = states["apigateway.DeleteRestApi"]
        assert (delete.account, delete.region) == (ACCOUNT, REGION)
        assert delete.waiting == {OPERATOR: 1, SWEEP: 2} and delete.oldest_wait_s > 0
        assert delete.burst == 1 and delete.rate == pytest.approx(1)
        assert -1.0 < delete.tokens < 0  # the operator's promised slot: debt, refilling at 1 per s
        assert sorted(who for who, _ in delete.named) == ["deployment:7/rest_api", "deployment:9/x"]
        total = states["apigateway.*"]
        assert total.burst == 40 and total.rate == pytest.approx(10) and total.waiting_total == 0
        again = {s.quota.name: s for s in limiter.snapshot()}["apigateway.DeleteRestApi"]
        assert again.tokens >= delete.tokens and again.waiting == delete.waiting  # read, not taken
    finally:
        release.set()
        for caller in callers:
            caller.join(10)
    # the operator went on its promised slot; the sweeps (asking again) were refused or granted,
    # and whoever is not waiting any more is not listed
    leftover = {s.quota.name: s for s in limiter.snapshot()}["apigateway.DeleteRestApi"]
    assert leftover.waiting[OPERATOR] == 0


# R-FLEET-1
def test_redis_snapshot_is_one_round_trip():
    client = redis.Redis.from_url(REDIS_URL)
    buckets = RedisBuckets(client, prefix=f"test:{uuid.uuid4().hex}:")
    limiter = RateLimiter(QuotaTable(), buckets)
    for operation in ("GetRestApis", "CreateResource", "GetResources"):
        limiter.acquire(ACCOUNT, REGION, "apigateway", operation, SWEEP)
    calls: list[Any] = []
    original = client.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counted  # type: ignore[method-assign]
    states = limiter.snapshot()
    assert len(states) == 3 and calls in (["EVALSHA"], ["EVALSHA", "SCRIPT LOAD", "EVALSHA"])
