"""Traffic page timings with 30 days of one-minute metric data in the local cloud (issue 19, Performance).

Starts the local cloud in this process, puts DAYS (default 30) days of one-minute data with
PutMetricData for every series the traffic view reads (API Gateway Count, 4XXError, 5XXError,
Latency, IntegrationLatency; Lambda Invocations, Errors, Throttles, Duration, ConcurrentExecutions
and two versions' Invocations by ExecutedVersion; DynamoDB consumed read and write capacity and
ThrottledRequests / SystemErrors of two operations: 18 series, 43,200 points each for 30 days),
an alarm that went to ALARM and back, and a few runs of the environment. Then it renders the
console's traffic page for the range `--since` (default 30d) once (the first view: the local cloud
computes every period's statistic from the raw points and keeps it, as CloudWatch keeps aggregates),
then R times uncached (the portal's cache cleared before each: one GetMetricData and one
DescribeAlarmHistory each) and R times cached, with
Django's test client in this process, and prints one JSON object as its last line:

    {"days": 30, "since": "30d", "points_put": 777600, "repeat": R, "first_view_ms": ...,
     "uncached": {"p50_ms": ..., "p95_ms": ...}, "cached": {"p50_ms": ..., "p95_ms": ...},
     "aws_calls_per_view": 2, "calls": {"cloudwatch.GetMetricData": 1, ...}, "page_bytes": ...}

    python bench/observe.py [--days 30] [--since 30d] [--repeat 20] [--profile build/observe-prof]

`--profile DIR` also profiles the views of `--since` with cProfile: the portal's side of the
uncached and of the cached views (DIR/portal-uncached.prof, DIR/portal-cached.prof) and the local
cloud's request threads (DIR/localcloud.prof, every request it served during those views, merged),
and prints the top functions of each by cumulative time to stderr (`python -m pstats FILE` reads
them further). Each timing also gives the process's CPU time per view (`cpu_p50_ms`,
`cpu_p95_ms`): the portal and the local cloud run in this process, so that is what a view costs
whatever else runs on the machine, and the machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path.cwd() if (Path.cwd() / "portal").is_dir() else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 1000  # PutMetricData takes at most 1,000 metric data per request


def series_to_fill(names: Any) -> list[tuple[str, str, dict[str, str], str]]:
    """(namespace, metric, dimensions, kind) of every series the view reads; kind shapes the values."""
    api = {"ApiName": names.rest_api, "Stage": names.api_stage}
    fn = {"FunctionName": names.function}
    live = {**fn, "Resource": f"{names.function}:live"}
    table = {"TableName": names.table}
    out = [("AWS/ApiGateway", m, api, k) for m, k in (
        ("Count", "count"), ("4XXError", "rare"), ("5XXError", "rare"), ("Latency", "ms"),
        ("IntegrationLatency", "ms"),
    )]  # fmt: skip
    out += [("AWS/Lambda", m, fn, k) for m, k in (
        ("Invocations", "count"), ("Errors", "rare"), ("Throttles", "rare"), ("Duration", "ms"),
        ("ConcurrentExecutions", "small"),
    )]  # fmt: skip
    out += [("AWS/Lambda", "Invocations", {**live, "ExecutedVersion": v}, "count") for v in ("1", "2")]
    out += [
        ("AWS/DynamoDB", m, table, "count")
        for m in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")
    ]
    out += [
        ("AWS/DynamoDB", m, {**table, "Operation": op}, "rare")
        for m in ("ThrottledRequests", "SystemErrors")
        for op in ("GetItem", "PutItem")
    ]
    return out


def value(kind: str, minute: int) -> float:
    """A daily wave of traffic: deterministic, so every run of the bench puts the same data."""
    wave = 1 + math.sin(minute / 1440 * 2 * math.pi)
    if kind == "count":
        return float(round(20 + 15 * wave))
    if kind == "ms":
        return round(40 + 25 * wave + (minute % 7) * 3, 1)
    if kind == "small":
        return float(1 + minute % 4)
    return 1.0 if minute % 97 == 0 else 0.0  # rare


def fill(endpoint: str, names: Any, days: int, now: dt.datetime) -> tuple[int, int]:
    """Every series, one point a minute for `days` days; returns (points, PutMetricData calls)."""
    import boto3

    client = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    minutes = days * 1440
    start = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=minutes)
    points = calls = 0
    for namespace, metric, dims, kind in series_to_fill(names):
        unit = "Milliseconds" if kind == "ms" else "Count"
        dimensions = [{"Name": k, "Value": v} for k, v in dims.items()]
        for first in range(0, minutes, BATCH):
            batch = [
                {
                    "MetricName": metric,
                    "Dimensions": dimensions,
                    "Timestamp": start + dt.timedelta(minutes=m, seconds=30),
                    "Value": value(kind, m),
                    "Unit": unit,
                }
                for m in range(first, min(first + BATCH, minutes))
            ]
            client.put_metric_data(Namespace=namespace, MetricData=batch)
            points += len(batch)
            calls += 1
    return points, calls


def alarm_history(endpoint: str, names: Any) -> None:
    import boto3

    from provisioning.resources.alarms import alarm_name

    client = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    name = alarm_name(names, "api-5xx")
    client.put_metric_alarm(
        AlarmName=name, Namespace="AWS/ApiGateway", MetricName="5XXError", Statistic="Sum", Period=300,
        EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[
            {"Name": "ApiName", "Value": names.rest_api}, {"Name": "Stage", "Value": names.api_stage}
        ],
    )  # fmt: skip
    client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="bench")
    client.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="bench")


def runs(env: Any) -> None:
    from portal.models import Deployment

    for kind, outputs in (("provision", {}), ("release", {"from_version": "1", "to_version": "2"})):
        Deployment.objects.create(environment=env, kind=kind, status="succeeded", outputs=outputs)


def _quantiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]
    return round(statistics.median(values), 1), round(p95, 1)


def timed(get: Any, url: str, repeat: int, before: Any = None) -> tuple[dict[str, float], int]:
    """Wall time of each view, and the process's CPU time during it: the portal and the local
    cloud run in this process, so the CPU time is what the view cost whatever else the machine
    runs (on a loaded machine the wall time also holds the waits for a core)."""
    times, cpu, size = [], [], 0
    for _ in range(repeat):
        if before is not None:
            before()
        t0, c0 = time.perf_counter(), time.process_time()
        response = get(url)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
        size = len(response.content)
    (p50, p95), (cpu50, cpu95) = _quantiles(times), _quantiles(cpu)
    return {"p50_ms": p50, "p95_ms": p95, "cpu_p50_ms": cpu50, "cpu_p95_ms": cpu95}, size


class Profiles:
    """cProfile of the portal's thread and, merged, of every local cloud request thread."""

    def __init__(self, folder: str) -> None:
        import cProfile
        import threading

        from localcloud import server

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.portal = {"uncached": cProfile.Profile(), "cached": cProfile.Profile()}
        self.served: list[Any] = []
        self.on = False
        lock = threading.Lock()
        original = server._Dispatcher.__call__
        profiles = self

        def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
            if not profiles.on:
                return original(self, environ, start_response)
            profile = cProfile.Profile()
            try:
                return profile.runcall(original, self, environ, start_response)
            finally:
                with lock:
                    profiles.served.append(profile)

        server._Dispatcher.__call__ = call  # type: ignore[method-assign]

    def measure(self, get: Any, kind: str) -> Any:
        def measured(url: str) -> Any:
            self.on = True
            try:
                return self.portal[kind].runcall(get, url)
            finally:
                self.on = False

        return measured

    def report(self) -> None:
        import pstats

        stats = []
        for kind, profile in self.portal.items():
            profile.dump_stats(self.folder / f"portal-{kind}.prof")
            stats.append((f"portal, {kind} views", pstats.Stats(profile, stream=sys.stderr)))
        if self.served:
            merged = pstats.Stats(self.served[0], stream=sys.stderr)
            for profile in self.served[1:]:
                merged.add(profile)
            merged.dump_stats(self.folder / "localcloud.prof")
            stats.append(("localcloud", merged))
        for name, found in stats:
            print(f"--- {name}: top 25 by cumulative time", file=sys.stderr)
            found.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--since", default="30d", help="the range the page shows (1h, 6h, 24h, 7d, 30d)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--also", default="1h,24h,7d", help="other ranges to time on the same data")
    parser.add_argument("--profile", default="", help="a folder for cProfile files of the uncached views")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="envport-observe-bench-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "ENVPORT_QUOTA_REDIS_URL": "",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from localcloud import LocalCloud
    from portal.services import environments
    from portal.services import traffic as service
    from portal.services.base import Actor

    settings.ALLOWED_HOSTS = ["*"]
    settings.ENVPORT_QUOTA_REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    setup_test_environment(debug=False)
    call_command("migrate", verbosity=0, interactive=False)
    profiles = Profiles(args.profile) if args.profile else None
    with LocalCloud(port=0) as cloud:
        settings.ENVPORT_TARGET = "local"
        settings.ENVPORT_AWS_ENDPOINT_URL = cloud.endpoint_url
        settings.ENVPORT_EXECUTE_API_URL = cloud.stage_url_template
        env = environments.create_environment(Actor.cli(), suffix="obs1", stage="dev")
        names = env.spec().names
        now = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        points, put_calls = fill(cloud.endpoint_url, names, args.days, now)
        fill_s = time.perf_counter() - t0
        alarm_history(cloud.endpoint_url, names)
        runs(env)
        admin = User.objects.create_superuser("bench", "bench@example.com", "bench-pw")
        client = Client()
        client.force_login(admin)
        others = {}
        for since in [r for r in args.also.split(",") if r and r != args.since] + [args.since]:
            url = reverse("admin:portal_environment_traffic", args=[env.pk]) + f"?since={since}"
            t1 = time.perf_counter()
            client.get(url)  # the first view: the local cloud's first pass over the raw data
            first_ms = (time.perf_counter() - t1) * 1000
            get = profiles.measure(client.get, "uncached") if profiles and since == args.since else client.get
            uncached, size = timed(get, url, args.repeat, before=cache.clear)
            cached, _ = timed(profiles.measure(client.get, "cached") if profiles and since == args.since
                              else client.get, url, args.repeat)  # fmt: skip
            others[since] = {"first_view_ms": round(first_ms, 1), "uncached": uncached, "cached": cached}
        cache.clear()
        view = service.traffic(Actor.cli(), env, args.since).view
        served = sum(len(s.values) for c in view.charts for s in c.series)
        others.pop(args.since)
    if profiles is not None:
        profiles.report()
    print(
        json.dumps(
            {
                "days": args.days,
                "since": args.since,
                "period_s": view.range.period,
                "points_put": points,
                "put_metric_data_calls": put_calls,
                "fill_s": round(fill_s, 1),
                "repeat": args.repeat,
                "first_view_ms": round(first_ms, 1),
                "uncached": uncached,
                "cached": cached,
                "aws_calls_per_view": view.calls.total,
                "calls": view.calls.by_operation,
                "datapoints_per_view": served,
                "alarm_bands": len(view.bands),
                "page_bytes": size,
                "load_average": [round(x, 1) for x in os.getloadavg()],
                "other_ranges": others,
            }
        )
    )


if __name__ == "__main__":
    main()
