"""The portal's own metrics, in Prometheus's exposition format, read at scrape time.

A custom ``prometheus_client`` Collector reads the database and Redis when Prometheus scrapes, so
every web process answers the same numbers (no in-process counters to merge across gunicorn
workers and Celery processes). Its cost is fixed: three aggregate queries, one pipelined Redis
round trip for the queue lengths, and the limiter's snapshot, whatever the number of runs.

Families (docs/operations.md lists them with their labels):

- ``envport_runs{kind,status}``: runs (deployments) by kind and status, now.
- ``envport_run_duration_seconds{kind}``: histogram of finished runs' durations (started to finished).
- ``envport_queue_depth{queue}``: messages waiting in each Celery queue (runs, sweeps, notifications).
- ``envport_quota_waiting_calls{quota,priority}`` and ``envport_quota_oldest_wait_seconds{quota}``:
  AWS calls waiting on the rate limiter's buckets (``provisioning/ratelimit.py``), operators and sweeps.
- ``envport_notification_deliveries{status}``: notification deliveries by outcome.
- ``envport_metrics_source_up{source}``: 1 when a source (database, redis, quotas) could be read;
  a source that fails leaves its families out and this at 0, and the scrape still answers.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .models import Deployment

log = logging.getLogger("portal.prometheus")

# Runs last from seconds (a plan) to most of an hour (a provision with a VPC, a slow canary).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
# kombu's Redis transport keeps a queue's messages in a list named after it, plus one list per
# priority step above 0 (``runs\x06\x163``...). All are counted.
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def queue_names() -> list[str]:
    return [str(queue.name) for queue in settings.CELERY_TASK_QUEUES]


class PortalCollector(Collector):
    """Reads the portal's state at scrape time. Each source fails on its own (``source_up``)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "envport_metrics_source_up", "1 when the source could be read at this scrape", labels=["source"]
        )
        for source, read in (("database", self._database), ("redis", self._queues), ("quotas", self._quotas)):
            try:
                families = list(read())
            except Exception as exc:  # a source down must not fail the scrape
                log.warning("metrics: %s unreadable (%s)", source, type(exc).__name__)
                up.add_metric([source], 0.0)
                continue
            up.add_metric([source], 1.0)
            yield from families
        yield up

    # -- the database --------------------------------------------------------------------------
    def _database(self) -> Iterable[Metric]:
        runs = GaugeMetricFamily("envport_runs", "Runs by kind and status", labels=["kind", "status"])
        for row in Deployment.objects.order_by().values("kind", "status").annotate(n=Count("id")):
            runs.add_metric([row["kind"], row["status"]], float(row["n"]))
        yield runs
        yield self._durations()
        from .notifications.models import Delivery

        deliveries = GaugeMetricFamily(
            "envport_notification_deliveries", "Notification deliveries by outcome", labels=["status"]
        )
        for outcome in Delivery.objects.order_by().values("status").annotate(n=Count("id")):
            deliveries.add_metric([outcome["status"]], float(outcome["n"]))
        yield deliveries

    def _durations(self) -> Metric:
        """One grouped query: per kind, the count at or under each bucket, the total and the sum."""
        duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        buckets = {
            f"le_{i}": Count("id", filter=Q(duration__lte=dt.timedelta(seconds=bound)))
            for i, bound in enumerate(DURATION_BUCKETS)
        }
        rows = (
            Deployment.objects.order_by()
            .filter(started_at__isnull=False, finished_at__isnull=False)
            .annotate(duration=duration)
            .values("kind")
            .annotate(total=Count("id"), seconds=Sum("duration"), **buckets)
        )
        family = HistogramMetricFamily(
            "envport_run_duration_seconds", "Durations of finished runs, started to finished", labels=["kind"]
        )
        for row in rows:
            counts: dict[str, Any] = dict(row)
            cumulative = [(_le(bound), float(counts[f"le_{i}"])) for i, bound in enumerate(DURATION_BUCKETS)]
            cumulative.append(("+Inf", float(row["total"])))
            total = row["seconds"]
            seconds = total.total_seconds() if isinstance(total, dt.timedelta) else float(total or 0) / 1e6
            family.add_metric([row["kind"]], cumulative, sum_value=seconds)
        return family

    # -- Redis: Celery queues ----------------------------------------------------------------------
    def _queues(self) -> Iterable[Metric]:
        url = str(settings.CELERY_BROKER_URL)
        if not url.startswith(("redis://", "rediss://")):
            return []  # the filesystem broker: no queue lengths (docs/operations.md)
        import redis

        timeout = settings.ENVPORT_HEALTH_TIMEOUT_SECONDS
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            pipe = client.pipeline(transaction=False)
            names = queue_names()
            for name in names:
                for step in _PRIORITY_STEPS:
                    pipe.llen(name if step == 0 else f"{name}{_PRIORITY_SEPARATOR}{step}")
            lengths = pipe.execute()
        finally:
            client.close()
        family = GaugeMetricFamily(
            "envport_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
        )
        per_queue = len(_PRIORITY_STEPS)
        for index, name in enumerate(names):
            family.add_metric([name], float(sum(lengths[index * per_queue : (index + 1) * per_queue])))
        return [family]

    # -- the rate limiter --------------------------------------------------------------------------
    def _quotas(self) -> Iterable[Metric]:
        from . import fleet_limits

        limiter = fleet_limits.limiter()
        waiting = GaugeMetricFamily(
            "envport_quota_waiting_calls",
            "AWS calls waiting on the rate limiter, by quota and priority class",
            labels=["quota", "priority"],
        )
        oldest = GaugeMetricFamily(
            "envport_quota_oldest_wait_seconds", "The longest current wait on each quota", labels=["quota"]
        )
        if limiter is None:
            return [waiting, oldest]
        totals: dict[tuple[str, str], int] = {}
        longest: dict[str, float] = {}
        for state in limiter.snapshot():
            name = state.quota.name
            for priority, count in state.waiting.items():
                totals[(name, priority)] = totals.get((name, priority), 0) + int(count)
            if state.oldest_wait_s is not None:
                longest[name] = max(longest.get(name, 0.0), state.oldest_wait_s)
        for (name, priority), count in sorted(totals.items()):
            waiting.add_metric([name, priority], float(count))
        for name, seconds in sorted(longest.items()):
            oldest.add_metric([name], seconds)
        return [waiting, oldest]


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"


def registry() -> CollectorRegistry:
    """A registry with the portal's collector only (no process metrics of one gunicorn worker)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(PortalCollector())
    return found
