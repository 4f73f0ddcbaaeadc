"""The admin index's overview: counts by health and drift, runs going and recently failed, and per
environment two sparklines (verification latency, provision duration) over its last 30 runs.

Six queries whatever the number of environments, runs or checks: one aggregate for the counts,
one each for the running and the failed runs, one for the environments, one window query that
ranks every environment's runs (ROW_NUMBER per environment and kind) and one for the latencies
of the ranked runs' checks. The per-run medians and the series are assembled in Python.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any

from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from ..models import ACTIVE_STATUSES, CheckResult, Deployment, Environment
from ..svg import sparkline

RUNS = 30
FAILED_WITHIN = dt.timedelta(hours=24)
SERIES_KINDS = (Deployment.Kind.PROVISION, Deployment.Kind.VERIFY)


def counts() -> dict[str, list[tuple[str, int]]]:
    aggregates = {f"health:{h}": Count("pk", filter=Q(health=h)) for h in Environment.Health.values}
    aggregates |= {f"drift:{d}": Count("pk", filter=Q(drift_state=d)) for d in Environment.Drift.values}
    row = Environment.objects.aggregate(total=Count("pk"), **aggregates)
    return {
        "total": row["total"],
        "health": [(h, row[f"health:{h}"]) for h in Environment.Health.values],
        "drift": [(d, row[f"drift:{d}"]) for d in Environment.Drift.values],
    }


def ranked_runs() -> Any:
    """The last RUNS finished provision and verify runs of every environment, per kind."""
    return (
        Deployment.objects.filter(
            kind__in=SERIES_KINDS, status__in=(Deployment.Status.SUCCEEDED, Deployment.Status.FAILED)
        )
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[F("environment_id"), F("kind")], order_by=F("created_at").desc()
            )
        )
        .filter(rank__lte=RUNS)
    )


def series() -> dict[int, dict[str, list[float | None]]]:
    """environment id -> {"latency": median check ms per run, "duration": seconds per provision}."""
    runs = list(
        ranked_runs().values_list("pk", "environment_id", "kind", "created_at", "started_at", "finished_at")
    )
    latencies: dict[int, list[float]] = defaultdict(list)
    checks = CheckResult.objects.filter(
        deployment_id__in=ranked_runs().values("pk"), latency_ms__isnull=False
    ).values_list("deployment_id", "latency_ms")
    for dep_id, latency in checks:
        if latency is not None:  # filtered above; the type of the column does not know it
            latencies[dep_id].append(latency)
    out: dict[int, dict[str, list[float | None]]] = defaultdict(lambda: {"latency": [], "duration": []})
    for pk, env_id, kind, _created, started, finished in sorted(runs, key=lambda r: (r[3], r[0])):
        values = latencies.get(pk)
        out[env_id]["latency"].append(statistics.median(values) if values else None)
        if kind == Deployment.Kind.PROVISION:
            seconds = (finished - started).total_seconds() if started and finished else None
            out[env_id]["duration"].append(seconds)
    for data in out.values():
        data["latency"] = data["latency"][-RUNS:]
    return out


def overview(now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    active = Deployment.objects.filter(status__in=ACTIVE_STATUSES)
    failed = Deployment.objects.filter(status=Deployment.Status.FAILED, finished_at__gte=now - FAILED_WITHIN)
    by_env = series()
    rows = []
    for env in Environment.objects.select_related("last_deployment").order_by("suffix"):
        data = by_env.get(env.pk, {"latency": [], "duration": []})
        rows.append(
            {
                "env": env,
                "latency": sparkline(data["latency"], "median check latency", "ms"),
                "duration": sparkline(data["duration"], "provision duration", "s"),
                "last_latency": next((v for v in reversed(data["latency"]) if v is not None), None),
                "last_duration": next((v for v in reversed(data["duration"]) if v is not None), None),
            }
        )
    return {
        "counts": counts(),
        "running": list(active.select_related("environment", "requested_by").order_by("created_at")[:20]),
        "failed": list(failed.select_related("environment", "requested_by").order_by("-finished_at")[:10]),
        "failed_within_hours": int(FAILED_WITHIN.total_seconds() // 3600),
        "environments": rows,
        "runs": RUNS,
    }
