"""The account-wide rate limiter (R-FLEET-1): rates and bursts of AWS's published API Gateway
quotas, buckets shared atomically through Redis by several processes, operators ahead of sweeps,
and the aws.py hook that makes every call of the engine pass it.

Quotas: "Amazon API Gateway quotas", https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest

from provisioning.aws import AwsClients, AwsTarget
from provisioning.engine import Engine
from provisioning.ratelimit import (
    OPERATOR,
    SWEEP,
    LocalBuckets,
    Quota,
    QuotaTable,
    RateLimiter,
    RedisBuckets,
)
from provisioning.spec import EnvironmentSpec

REDIS_URL = os.environ.get("ENVPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")


class FakeClock:
    """Time that moves only when the limiter sleeps: rates are checked exactly, instantly."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _limiter(clock: FakeClock, **kwargs: Any) -> RateLimiter:
    kwargs.setdefault("margin", 0.0)  # AWS's rates exactly
    kwargs.setdefault("jitter_s", 0.0)
    return RateLimiter(QuotaTable(), LocalBuckets(clock), sleep=clock.sleep, **kwargs)


# R-FLEET-1
def test_defaults_are_the_published_api_gateway_quotas() -> None:
    table = QuotaTable()

    def quota(op: str) -> tuple[float, float]:
        found = table.quotas_for("1", "apigateway", op)[0]
        return round(1 / found.rate, 3) if found.rate < 1 else round(found.rate, 3), found.burst

    assert quota("CreateRestApi") == (3.0, 1)  # 1 request every 3 seconds
    assert quota("DeleteRestApi") == (30.0, 1)
    assert quota("CreateDeployment") == (5.0, 1)
    assert quota("UpdateUsagePlan") == (20.0, 1)
    assert quota("UpdateAccount") == (20.0, 1)
    assert quota("GetResources") == (2.5, 5)  # 5 requests every 2 seconds
    assert quota("CreateResource") == (5.0, 5)
    total = table.quotas_for("1", "apigateway", "GetRestApis")
    assert [(q.name, q.rate, q.burst) for q in total] == [("apigateway.*", 10.0, 40)]
    # every API Gateway call also counts against the total
    assert [q.name for q in table.quotas_for("1", "apigateway", "CreateRestApi")] == [
        "apigateway.CreateRestApi",
        "apigateway.*",
    ]
    assert table.quotas_for("1", "lambda", "GetFunction") == []


def test_rates_and_bursts_hold_in_process() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    start = clock.now
    for _ in range(4):
        limiter.acquire("1", "us-east-1", "apigateway", "CreateRestApi", OPERATOR)
    assert clock.now - start == pytest.approx(9.0)  # one at once, then one every 3 s
    # by default the limiter keeps 5% below AWS's rates, for the jitter between it and AWS
    clock.now += 100
    start = clock.now
    careful = RateLimiter(QuotaTable(), LocalBuckets(clock), sleep=clock.sleep)
    for _ in range(2):
        careful.acquire("9", "us-east-1", "apigateway", "CreateRestApi", OPERATOR)
    assert clock.now - start == pytest.approx(3 / 0.95 + 0.03)
    # the total: a burst of 40 at once, then 10 per second
    clock.now += 100
    start = clock.now
    for _ in range(40):
        limiter.acquire("1", "us-east-1", "apigateway", "GetRestApis", OPERATOR)
    assert clock.now == start
    for _ in range(10):
        limiter.acquire("1", "us-east-1", "apigateway", "GetRestApis", OPERATOR)
    assert clock.now - start == pytest.approx(1.0)
    # buckets are per account and region
    before = clock.now
    limiter.acquire("2", "us-east-1", "apigateway", "GetRestApis", OPERATOR)
    limiter.acquire("1", "eu-west-1", "apigateway", "GetRestApis", OPERATOR)
    assert clock.now == before


def test_per_account_quotas_and_time_scale_are_configurable() -> None:
    table = QuotaTable(
        {"default": {"lambda.*": [15, 1, 30]}, "accounts": {"222": {"apigateway.*": [20, 1, 80]}}},
        time_scale=10,
    )
    assert table.quotas_for("111", "lambda", "GetFunction") == [Quota("lambda.*", 150.0, 30)]
    assert table.quotas_for("222", "apigateway", "GetStage") == [Quota("apigateway.*", 200.0, 80)]
    assert table.quotas_for("111", "apigateway", "DeleteRestApi")[0].rate == pytest.approx(1 / 3)
    for bad in ({"default": {"x.*": [0, 1]}}, {"nonsense": {}}, {"default": {"x.*": "fast"}}):
        with pytest.raises(ValueError):
            QuotaTable(bad)


# R-FLEET-1
def test_an_operator_goes_ahead_of_a_sweep() -> None:
    clock = FakeClock()
    limiter = _limiter(clock)
    quota = QuotaTable().quotas_for("1", "apigateway", "GetStage")[0]
    buckets = limiter.buckets
    key = RateLimiter.key("1", "us-east-1", quota)
    reserve = limiter.reserve * quota.burst
    # a sweep drains the bucket down to its reserve, and no further
    taken = 0
    while buckets.take(key, quota, SWEEP, reserve)[0]:
        taken += 1
    assert taken == 40 - 10
    # an operator still finds tokens at once
    assert buckets.take(key, quota, OPERATOR, reserve) == (True, 0.0)
    # operators in debt hold sweeps back until every operator has had its token
    for _ in range(12):
        buckets.take(key, quota, OPERATOR, reserve)
    granted, wait = buckets.take(key, quota, SWEEP, reserve)
    assert not granted and wait > 0.3  # the operators' debt and the reserve first


def _sweeper(stop: threading.Event, limiter: RateLimiter, grants: list[float]) -> None:
    while not stop.is_set():
        limiter.acquire("1", "us-east-1", "apigateway", "GetStage", SWEEP)
        grants.append(time.monotonic())


def _redis_limiter(prefix: str, scale: float) -> RateLimiter:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    return RateLimiter(QuotaTable(time_scale=scale), RedisBuckets(client, prefix=prefix))


# R-FLEET-1
@pytest.mark.heavy
def test_an_operator_overtakes_two_sweeping_threads_through_redis() -> None:
    """Two sweeps hammer one bucket; an operator's calls still go at the bucket's rate, not behind
    the sweeps' queue (each sweep would otherwise wait its turn among the others)."""
    prefix = f"test:{uuid.uuid4().hex}:"
    limiter = _redis_limiter(prefix, scale=5)  # 50 calls/s, burst 40
    stop, grants = threading.Event(), []
    sweeps = [threading.Thread(target=_sweeper, args=(stop, limiter, grants)) for _ in range(2)]
    for t in sweeps:
        t.start()
    try:
        time.sleep(1.2)  # the burst is gone: sweeps now live on the rate
        assert len(grants) > 40
        t0 = time.monotonic()
        for _ in range(10):
            limiter.acquire("1", "us-east-1", "apigateway", "GetStage", OPERATOR)
        operator_s = time.monotonic() - t0
    finally:
        stop.set()
        for t in sweeps:
            t.join()
    # 10 tokens at 50/s is 0.2 s. What proves the priority is that the sweeps got (nearly) none of
    # the tokens while the operator was taking them: shared fairly, they would have had about 20 in
    # that time. How long it took is only bounded loosely: a loaded machine stretches it.
    during = [g for g in grants if t0 + 0.05 < g < t0 + operator_s - 0.05]
    assert len(during) <= 2, during
    assert operator_s < 2.0, operator_s


def _grab(prefix: str, n: int, out: Any) -> None:
    limiter = _redis_limiter(prefix, scale=1)
    limiter.buckets = RedisBuckets(__import__("redis").Redis.from_url(REDIS_URL), prefix=prefix)
    quota = Quota("apigateway.Test", rate=0.001, burst=25)
    granted = sum(limiter.buckets.take("k", quota, SWEEP, 0.0)[0] for _ in range(n))
    out.put(granted)


# R-FLEET-1
@pytest.mark.heavy
def test_redis_buckets_are_atomic_across_processes() -> None:
    """Four processes race 20 takes each for a bucket of 25: exactly 25 are granted."""
    prefix = f"test:{uuid.uuid4().hex}:"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_grab, args=(prefix, 20, out)) for _ in range(4)]
    for p in procs:
        p.start()
    granted = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(granted) == 25, granted


def _paced(prefix: str, n: int, out: Any) -> None:
    limiter = _redis_limiter(prefix, scale=20)  # CreateRestApi: one every 0.15 s
    stamps = []
    for _ in range(n):
        limiter.acquire("1", "us-east-1", "apigateway", "CreateRestApi", OPERATOR)
        stamps.append(time.time())
    out.put(stamps)


# R-FLEET-1
@pytest.mark.heavy
def test_redis_buckets_hold_the_rate_across_processes() -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_paced, args=(prefix, 4, out)) for _ in range(3)]
    for p in procs:
        p.start()
    stamps = sorted(s for _ in procs for s in out.get(timeout=60))
    for p in procs:
        p.join(timeout=30)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == 12
    # one slot after another, whichever process asked: 12 calls take 11 periods (buckets of their
    # own per process would let the 3 processes go 3 times as fast). A process's own wake-up can
    # be late on a busy machine, so single gaps vary; their median and the span do not.
    assert stamps[-1] - stamps[0] >= 11 * 0.15 * 0.95, gaps
    assert statistics.median(gaps) >= 0.15 * 0.9, gaps


# R-FLEET-1
@pytest.mark.heavy
def test_every_call_of_the_engine_passes_the_limiter(mocked_aws: None, spec: EnvironmentSpec) -> None:
    """A quota on every service the engine calls (STS excepted: the buckets' account comes from
    it): the limiter sees exactly the calls the recorder counts, and waits land on the steps."""

    class Counting(LocalBuckets):
        def __init__(self) -> None:
            super().__init__()
            self.taken: Counter[str] = Counter()

        def take(self, key: str, quota: Quota, priority: str, reserve: float) -> tuple[bool, float]:
            if quota.name.endswith(".*"):
                self.taken[quota.name[:-2]] += 1
            return super().take(key, quota, priority, reserve)

    buckets = Counting()
    services = boto3.session.Session().get_available_services()
    every = {f"{s}.*": [1000, 1, 1000] for s in services if s != "sts"}
    limiter = RateLimiter(QuotaTable({"default": every}), buckets)
    clients = AwsClients(AwsTarget(), limiter=limiter)
    result = Engine(spec, clients=clients, sleep=lambda _s: None).apply()
    assert result.ok, result.error
    per_service: Counter[str] = Counter()
    for op, n in result.calls.by_operation.items():
        per_service[op.split(".")[0]] += n
    per_service.pop("sts", None)
    assert buckets.taken == per_service
    # a scarce quota makes a step wait, and the step says for what
    # the buckets' clock moves only when the limiter sleeps: however slow this machine is, the
    # tokens the other callers took do not come back while the plan runs
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    slow = RateLimiter(QuotaTable(time_scale=100), LocalBuckets(clock=lambda: now[0]), sleep=sleep)
    clients = AwsClients(AwsTarget(), limiter=slow)
    quota = slow.table.quotas_for(clients.account_id, "apigateway", "GetResources")[0]
    for _ in range(750):  # other callers took GetResources' tokens three seconds ahead
        slow.buckets.take(RateLimiter.key(clients.account_id, "us-east-1", quota), quota, OPERATOR, 0)
    plan = Engine(spec, clients=clients, sleep=lambda _s: None).plan()
    step = next(s for s in plan.steps if s.resource == "rest_api")
    assert step.quota_wait_s > 0
    assert "API Gateway's quota (GetResources)" in step.detail


def test_unreachable_redis_falls_back_to_the_process_buckets() -> None:
    import redis

    gone = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    limiter = RateLimiter(QuotaTable(), RedisBuckets(gone))
    assert limiter.acquire("1", "us-east-1", "apigateway", "GetStage", OPERATOR) is None  # went at once
