"""The process's rate limiter and sweep read store, from settings (R-FLEET-1, R-FLEET-2).

One `RateLimiter` per worker process: its buckets are in Redis (`ENVPORT_QUOTA_REDIS_URL`, by
default the broker's Redis) so every process on every machine shares them, or in the process when
the portal runs embedded without Redis. A run of a schedule's drift or health check takes tokens
as a sweep; every other run (provision, teardown, release, plan, verify, a person's drift) as an
operator, ahead of the sweeps.
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings

from provisioning.ratelimit import (
    OPERATOR,
    SWEEP,
    BucketState,
    LocalBuckets,
    QuotaTable,
    RateLimiter,
    RedisBuckets,
)
from provisioning.shared_reads import LocalReadStore, ReadStore, RedisReadStore, SharedReads

from .models import Deployment

log = logging.getLogger("portal.fleet_limits")

SWEEP_KINDS = (Deployment.Kind.DRIFT, Deployment.Kind.HEALTH)


@functools.cache
def limiter() -> RateLimiter | None:
    """None when `ENVPORT_QUOTAS` is "off" (a run then relies on botocore's adaptive retry alone)."""
    config = settings.ENVPORT_QUOTAS
    if not isinstance(config, dict):  # "off"
        return None
    table = QuotaTable(config, time_scale=settings.ENVPORT_QUOTA_TIME_SCALE)
    url = settings.ENVPORT_QUOTA_REDIS_URL
    buckets = RedisBuckets.from_url(url) if url else LocalBuckets()
    log.info("AWS quota buckets %s", f"in Redis at {url}" if url else "in this process")
    return RateLimiter(table, buckets, reserve=settings.ENVPORT_QUOTA_SWEEP_RESERVE)


def _states() -> list[BucketState]:
    """Every bucket's state now; none when quotas are off or the buckets are unreadable (logged)."""
    found = limiter()
    if found is None:
        return []
    try:
        return found.snapshot()
    except Exception as exc:  # Redis down or slow: the page still answers
        log.warning("quota buckets unreadable: %s", exc)
        return []


def usage() -> list[dict[str, object]]:
    """The console's quota panel (R-FLEET-1): per account and region, each bucket's tokens left of
    its burst, its rate, and the operator and sweep calls waiting on it now. Read-only: it takes no
    token. Quotas off, or the buckets unreadable (logged): an empty panel, never a failed page."""
    states = _states()
    groups: dict[tuple[str, str], list[BucketState]] = {}
    for state in states:
        groups.setdefault((state.account, state.region), []).append(state)
    return [
        {
            "account": account,
            "region": region,
            "buckets": sorted(buckets, key=lambda s: (-s.waiting_total, s.key)),
            "waiting": {p: sum(b.waiting.get(p, 0) for b in buckets) for p in (OPERATOR, SWEEP)},
            "oldest_wait_s": max(
                (b.oldest_wait_s for b in buckets if b.oldest_wait_s is not None), default=None
            ),
        }
        for (account, region), buckets in sorted(groups.items())
    ]


WAIT_SHOWN_S = 0.5  # shorter waits come and go between two polls of the live page


def waiter_of(dep: Deployment) -> str:
    """How a run names itself among a bucket's waiting calls (see `waiting_of`)."""
    return f"deployment:{dep.pk}"


def waiting_of(dep: Deployment) -> list[dict[str, object]]:
    """The run's calls waiting for a quota token now, for longer than WAIT_SHOWN_S: its step
    (resource), the quota and for how long, longest first (R-FLEET-1). Read-only."""
    states = _states()
    prefix = waiter_of(dep) + "/"
    waits = sorted(
        (-seconds, who[len(prefix) :], state.quota.label)
        for state in states
        for who, seconds in state.named
        if who.startswith(prefix) and seconds >= WAIT_SHOWN_S
    )
    return [{"resource": node, "quota": label, "seconds": round(-neg, 1)} for neg, node, label in waits]


@functools.cache
def read_store() -> ReadStore:
    url = settings.ENVPORT_QUOTA_REDIS_URL
    return RedisReadStore.from_url(url) if url else LocalReadStore()


def is_sweep(dep: Deployment) -> bool:
    """A schedule's drift or health check: it yields to operators' runs."""
    return dep.trigger == Deployment.Trigger.SCHEDULE and dep.kind in SWEEP_KINDS


def priority_of(dep: Deployment) -> str:
    return SWEEP if is_sweep(dep) else OPERATOR


def shared_reads(dep: Deployment) -> SharedReads | None:
    """The answers its sweep shares (`options["sweep"]`, set by the schedule), if it is one's."""
    if not is_sweep(dep) or not dep.options.get("sweep"):
        return None
    return SharedReads(
        str(dep.options["sweep"]), read_store(), ttl_s=settings.ENVPORT_SWEEP_READS_TTL_SECONDS
    )
