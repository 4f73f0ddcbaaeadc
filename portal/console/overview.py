"""The admin index's overview: counts by health and drift, runs going and recently failed, the
account's API quotas in use, and two sparklines per environment (verification latency, provision
duration) over its last 30 runs.

With a thousand environments the page shows what needs attention first (failed, drifted,
degraded or down, running, expiring within a day; at most ATTENTION of them) and pages the rest
(PAGE_SIZE a page, `?page=`, searched with `?q=`), so its weight does not grow with the fleet.

Ten queries whatever the number of environments, runs or checks: one aggregate for the counts,
one each for the running and the failed runs, one for the environments needing attention, a count
and a page of the rest, one window query that ranks the shown environments' runs (ROW_NUMBER per
environment and kind) and one for the latencies of the ranked runs' checks. The per-run medians
and the series are assembled in Python. The cost column and total read stored figures
(`portal.costs.service`, computed by the hourly schedule), never AWS: one query for the shown
environments' newest figures and one aggregate for the total of every matching environment (ten
queries in all). The quota panel reads the rate limiter's buckets, not the database
(`portal.fleet_limits.usage`).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any

from django.core.paginator import Paginator
from django.db.models import Count, F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from .. import fleet_limits
from ..costs import service as costs
from ..costs.models import CostEstimate
from ..models import ACTIVE_STATUSES, CheckResult, Deployment, Environment
from ..svg import sparkline

RUNS = 30
FAILED_WITHIN = dt.timedelta(hours=24)
SERIES_KINDS = (Deployment.Kind.PROVISION, Deployment.Kind.VERIFY)
ATTENTION = 50
PAGE_SIZE = 25
EXPIRING_WITHIN = dt.timedelta(hours=24)
Env = Environment


def attention(now: dt.datetime) -> Q:
    """What an operator should look at: failed, drifted, degraded or down, busy, about to expire."""
    return (
        Q(status__in=(Env.Status.FAILED, Env.Status.PROVISIONING, Env.Status.TEARING_DOWN))
        | Q(drift_state=Env.Drift.DRIFTED)
        | Q(health__in=(Env.Health.DEGRADED, Env.Health.DOWN))
        | Q(last_deployment__status__in=ACTIVE_STATUSES)
        | Q(expires_at__gt=now, expires_at__lte=now + EXPIRING_WITHIN)
    )


def reasons(env: Environment, now: dt.datetime) -> list[str]:
    """Why `env` is in the attention list, in the words of its badges (same rule as `attention`)."""
    found = []
    if env.status in (Env.Status.FAILED, Env.Status.PROVISIONING, Env.Status.TEARING_DOWN):
        found.append(env.get_status_display())
    if env.health in (Env.Health.DEGRADED, Env.Health.DOWN):
        found.append(env.health)
    if env.drift_state == Env.Drift.DRIFTED:
        found.append("drifted")
    last = env.last_deployment
    if last is not None and last.status in ACTIVE_STATUSES:
        found.append(f"{last.kind} {last.status}")
    if env.expires_at is not None and now < env.expires_at <= now + EXPIRING_WITHIN:
        hours = (env.expires_at - now).total_seconds() / 3600
        found.append(f"expires in {hours:.0f} h" if hours >= 1 else "expires within the hour")
    return found


def searched(queryset: QuerySet[Environment], q: str) -> QuerySet[Environment]:
    """The overview's search box: suffix, owner or stage contains `q` (as the list's search does)."""
    if not q:
        return queryset
    return queryset.filter(Q(suffix__icontains=q) | Q(owner__icontains=q) | Q(stage__iexact=q))


def counts() -> dict[str, Any]:
    """Health and drift of the environments that have resources; torn-down ones counted apart
    (their health is not "unknown": there is nothing to check)."""
    gone = Q(status=Environment.Status.TORN_DOWN)
    aggregates = {f"health:{h}": Count("pk", filter=Q(health=h) & ~gone) for h in Environment.Health.values}
    aggregates |= {
        f"drift:{d}": Count("pk", filter=Q(drift_state=d) & ~gone) for d in Environment.Drift.values
    }
    row = Environment.objects.aggregate(total=Count("pk"), torn_down=Count("pk", filter=gone), **aggregates)
    return {
        "total": row["total"],
        "torn_down": row["torn_down"],
        "health": [(h, row[f"health:{h}"]) for h in Environment.Health.values],
        "drift": [(d, row[f"drift:{d}"]) for d in Environment.Drift.values],
    }


def ranked_runs(env_ids: list[int] | None = None) -> Any:
    """The last RUNS finished provision and verify runs of every environment (or of `env_ids`)."""
    runs = Deployment.objects.filter(
        kind__in=SERIES_KINDS, status__in=(Deployment.Status.SUCCEEDED, Deployment.Status.FAILED)
    )
    if env_ids is not None:
        runs = runs.filter(environment_id__in=env_ids)
    return runs.annotate(
        rank=Window(
            RowNumber(), partition_by=[F("environment_id"), F("kind")], order_by=F("created_at").desc()
        )
    ).filter(rank__lte=RUNS)


def series(env_ids: list[int] | None = None) -> dict[int, dict[str, list[float | None]]]:
    """environment id -> {"latency": median check ms per run, "duration": seconds per provision}."""
    runs = list(
        ranked_runs(env_ids).values_list(
            "pk", "environment_id", "kind", "created_at", "started_at", "finished_at"
        )
    )
    latencies: dict[int, list[float]] = defaultdict(list)
    checks = CheckResult.objects.filter(
        deployment_id__in=ranked_runs(env_ids).values("pk"), latency_ms__isnull=False
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


def _row(
    env: Environment,
    data: dict[str, list[float | None]],
    now: dt.datetime,
    cost: CostEstimate | None = None,
) -> dict[str, Any]:
    return {
        "env": env,
        "cost": cost,
        "idle": costs.idle_finding(cost),
        "reasons": reasons(env, now),
        "latency": sparkline(data["latency"], "median check latency", "ms"),
        "duration": sparkline(data["duration"], "provision duration", "s"),
        "last_latency": next((v for v in reversed(data["latency"]) if v is not None), None),
        "last_duration": next((v for v in reversed(data["duration"]) if v is not None), None),
    }


def overview(
    now: dt.datetime | None = None, *, page: Any = 1, q: str = "", with_quotas: bool = True
) -> dict[str, Any]:
    """The index's data; `page` and `q` come from the request (a bad page number shows the last)."""
    now = now or timezone.now()
    q = q.strip()
    active = Deployment.objects.filter(status__in=ACTIVE_STATUSES)
    failed = Deployment.objects.filter(status=Deployment.Status.FAILED, finished_at__gte=now - FAILED_WITHIN)
    envs = searched(Environment.objects.select_related("last_deployment"), q)
    needing = list(envs.filter(attention(now)).order_by("suffix")[: ATTENTION + 1])
    rest = Paginator(envs.exclude(attention(now)).order_by("suffix"), PAGE_SIZE).get_page(page)
    shown = needing[:ATTENTION] + list(rest.object_list)
    by_env = series([env.pk for env in shown])
    # the page is shown to whoever may view environments (the template asks), as its rows are
    cost_of = costs.latest_many(shown)
    total, priced = costs.total_monthly(envs)
    empty: dict[str, list[float | None]] = {"latency": [], "duration": []}
    return {
        "counts": counts(),
        "running": list(active.select_related("environment", "requested_by").order_by("created_at")[:20]),
        "failed": list(failed.select_related("environment", "requested_by").order_by("-finished_at")[:10]),
        "failed_within_hours": int(FAILED_WITHIN.total_seconds() // 3600),
        "attention": [
            _row(env, by_env.get(env.pk, empty), now, cost_of.get(env.pk)) for env in needing[:ATTENTION]
        ],
        "attention_more": len(needing) > ATTENTION,
        "environments": [
            _row(env, by_env.get(env.pk, empty), now, cost_of.get(env.pk)) for env in rest.object_list
        ],
        "cost_total": total,
        "cost_priced": priced,
        "page": rest,
        "q": q,
        "runs": RUNS,
        "quotas": fleet_limits.usage() if with_quotas else [],
    }
