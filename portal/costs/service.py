"""The cost service: compute and store an environment's estimate, read the stored ones, roll them up.

Every function asks the one guard first (`_authorize`, one call at the top, into
`portal.services.authz`): viewers may read figures; computing one makes AWS reads, so it needs what
a drift check needs; the hourly schedule may compute them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from portal.models import Environment
from portal.services import authz
from portal.services.base import Actor
from portal.services.runs import provisioned
from portal.targets import target_for
from provisioning import actuals as actuals_engine
from provisioning import cost, pricing
from provisioning.aws import AwsClients
from provisioning.ratelimit import OPERATOR, SWEEP

from .models import Budget, CostAlert, CostEstimate

log = logging.getLogger("portal.costs")

READ = "read"
REFRESH = "refresh"
GROUPINGS = {"owner": "owner", "cost-centre": "cost_centre", "stage": "stage"}
UNSET = "(none)"
MAX_ERROR = 2000
# Environments with no resources (never provisioned, or torn down) have no cost to estimate: the
# graph's fixed cost would be made up. A failed or running provision may have made some: estimated.
NOT_BILLABLE = (Environment.Status.NEW, Environment.Status.TORN_DOWN)


class NotBillable(ValueError):
    """An estimate asked for an environment that has no resources."""


def _authorize(actor: Actor | None, action: str, env: Environment | None) -> None:
    """The one guard (`portal.services.authz`) for `action` (READ or REFRESH) on `env`: reading a
    figure is viewing the environment (viewers may); refreshing one makes AWS reads against it, so
    it needs what a drift check needs. No actor is the system itself (the sweep passes its own)."""
    if actor is None:
        return
    authz.authorize(actor, "view" if action == READ else "estimate_cost", env)


# --- computing -----------------------------------------------------------------------------------


def compute(
    env: Environment,
    actor: Actor | None = None,
    *,
    clients: AwsClients | None = None,
    now: dt.datetime | None = None,
) -> CostEstimate:
    """Estimate `env`'s cost now and store it (a failure is stored too, with its error).

    Three AWS reads (one GetMetricData, one DescribeTable, one ListBackups), taken from the
    account's rate limiter as a sweep when the schedule asks and as an operator otherwise."""
    _authorize(actor, REFRESH, env)
    if env.status in NOT_BILLABLE:
        raise NotBillable(f"{env.suffix} is {env.get_status_display()}: it has no resources to estimate")
    now = now or timezone.now()
    try:
        spec = env.spec()
        prices = pricing.load(spec.region, settings.ENVPORT_PRICES_DIR)
        if clients is None:
            from portal import fleet_limits

            priority = SWEEP if actor is not None and actor.source == "schedule" else OPERATOR
            clients = AwsClients(
                target_for(env.region, env.role_arn, env.external_id),
                limiter=fleet_limits.limiter(),
                priority=priority,
                waiter=f"cost:{env.suffix}",
            )
        found = cost.estimate(
            spec,
            clients,
            prices,
            now=now,
            created=env.created_at,
            expires=env.expires_at,
            rest_api_id=str((env.outputs or {}).get("api_id") or ""),
        )
    except Exception as exc:
        log.warning("cost estimate of %s failed: %s", env.suffix, exc)
        return _store(
            env,
            CostEstimate(environment=env, computed_at=now, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR]),
        )
    preview = found.preview
    record = CostEstimate(
        environment=env,
        computed_at=now,
        currency=found.currency,
        monthly=_money(found.monthly),
        fixed_monthly=_money(found.fixed_monthly),
        storage_monthly=_money(found.storage_monthly),
        usage_monthly=_money(found.usage_monthly),
        so_far=None if preview is None else _money(preview.so_far),
        at_expiry=None if preview is None else _money(preview.at_expiry),
        figures=found.to_dict(),
        calls=found.calls.total,
    )
    _store(env, record)
    try:
        evaluate(env, record, now)
    except Exception:  # a notification must not fail the figure it is about
        log.exception("budgets and idle finding of %s not evaluated", env.suffix)
    return record


def _store(env: Environment, record: CostEstimate) -> CostEstimate:
    """Save, and keep only the newest ENVPORT_COST_KEEP estimates of the environment."""
    with transaction.atomic():
        record.save()
        stale = list(
            CostEstimate.objects.filter(environment=env).values_list("pk", flat=True)[
                settings.ENVPORT_COST_KEEP :
            ]
        )
        if stale:
            CostEstimate.objects.filter(pk__in=stale).delete()
    return record


def compute_all(actor: Actor | None = None, *, clients_for: Any = None) -> list[CostEstimate]:
    """Every provisioned environment's estimate, one after another (three reads each).

    `clients_for(env)`: the AWS clients of one environment (tests); default: from settings."""
    _authorize(actor, REFRESH, None)
    out = []
    for env in provisioned().order_by("region", "role_arn", "suffix"):
        clients = clients_for(env) if clients_for is not None else None
        out.append(compute(env, actor, clients=clients))
    return out


# --- reading -------------------------------------------------------------------------------------


def latest(env: Environment, actor: Actor | None = None) -> CostEstimate | None:
    """The newest stored estimate with figures (a later failed attempt does not hide it)."""
    _authorize(actor, READ, env)
    return CostEstimate.objects.filter(environment=env, error="").exclude(monthly=None).first()


def last_attempt(env: Environment, actor: Actor | None = None) -> CostEstimate | None:
    """The newest attempt, failed or not: what says why a figure is old."""
    _authorize(actor, READ, env)
    return CostEstimate.objects.filter(environment=env).first()


def latest_many(envs: Iterable[Environment], actor: Actor | None = None) -> dict[int, CostEstimate]:
    """The newest figure of each environment, by environment id, in ONE query: what a list of
    environments (the overview's cost column, a roll-up) reads, never AWS."""
    envs = list(envs)
    for env in envs:
        _authorize(actor, READ, env)
    rows = CostEstimate.objects.filter(environment__in=envs, pk=Subquery(_newest()))
    return {row.environment_id: row for row in rows}


def _newest() -> Any:
    """The newest stored figure of the outer row's environment, as a subquery (one pk)."""
    return (
        CostEstimate.objects.filter(environment=OuterRef("environment"), error="")
        .exclude(monthly=None)
        .order_by("-computed_at", "-id")
        .values("pk")[:1]
    )


def total_monthly(envs: QuerySet[Environment]) -> tuple[Decimal, int]:
    """The sum of the newest figures of the environments `envs` selects, and how many have one:
    ONE aggregate query whatever their number (the overview's total). No guard: the caller's
    queryset is already what the reader may see."""
    row = CostEstimate.objects.filter(environment__in=envs, pk=Subquery(_newest())).aggregate(
        total=Sum("monthly"), n=models.Count("pk")
    )
    return Decimal(row["total"] or 0), int(row["n"])


@dataclass
class Group:
    """One roll-up row: the environments of one owner, cost centre or stage, and their sums."""

    key: str
    environments: list[str] = field(default_factory=list)
    monthly: Decimal = Decimal(0)
    fixed_monthly: Decimal = Decimal(0)
    usage_monthly: Decimal = Decimal(0)
    at_expiry: Decimal = Decimal(0)
    missing: list[str] = field(default_factory=list)  # environments with no stored figure

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "environments": self.environments,
            "monthly": float(self.monthly),
            "fixed_monthly": float(self.fixed_monthly),
            "usage_monthly": float(self.usage_monthly),
            "previews_at_expiry": float(self.at_expiry),
            "missing": self.missing,
        }


def rollup(
    envs: Iterable[Environment], by: str, actor: Actor | None = None
) -> tuple[list[Group], dict[str, CostEstimate | None]]:
    """Stored figures summed by owner, cost centre or stage (no AWS call), and each
    environment's estimate. An environment without a figure is listed as missing, not as $0."""
    if by not in GROUPINGS:
        raise ValueError(f"--by {by!r}: one of {', '.join(GROUPINGS)}")
    envs = list(envs)
    stored = latest_many(envs, actor)
    groups: dict[str, Group] = {}
    found: dict[str, CostEstimate | None] = {}
    for env in envs:
        record = stored.get(env.pk)
        found[env.suffix] = record
        key = str(getattr(env, GROUPINGS[by]) or UNSET)
        group = groups.setdefault(key, Group(key))
        group.environments.append(env.suffix)
        if record is None or record.monthly is None:
            group.missing.append(env.suffix)
            continue
        group.monthly += record.monthly
        group.fixed_monthly += record.fixed_monthly or 0
        group.usage_monthly += (record.usage_monthly or 0) + (record.storage_monthly or 0)
        group.at_expiry += record.at_expiry or 0
    return sorted(groups.values(), key=lambda g: (-g.monthly, g.key)), found


def actuals(
    env: Environment,
    actor: Actor | None = None,
    *,
    ce: Any = None,
    today: dt.date | None = None,
    days: int = actuals_engine.DEFAULT_DAYS,
) -> dict[str, Any]:
    """Cost Explorer's actuals of `env` over its last `days` full days beside the stored estimate
    over the same days, with the difference; or "not available: <reason>". One AWS call, asked
    on demand (Cost Explorer charges $0.01 a request), so it needs what computing a figure needs."""
    _authorize(actor, REFRESH, env)
    if ce is None:
        from portal import fleet_limits

        ce = AwsClients(
            target_for(env.region, env.role_arn, env.external_id),
            limiter=fleet_limits.limiter(),
            priority=OPERATOR,
            waiter=f"cost:{env.suffix}",
        ).client("ce")
    found = actuals_engine.read_actuals(ce, env.suffix, today=today or timezone.now().date(), days=days)
    record = latest(env)
    return {
        **found.to_dict(),
        **found.compared(None if record is None else record.monthly),
        "summary": (
            f"{found.days} days to {found.end:%Y-%m-%d}: ${found.total:.2f} actual"
            if found.available
            else f"not available: {found.reason}"
        ),
    }


# --- budgets and the idle finding (issue 21 item 3) ---------------------------------------------

THRESHOLDS = ((100, "cost.budget_100"), (80, "cost.budget_80"))


def document_head(env: Environment, record: CostEstimate | None) -> dict[str, Any]:
    """Whose stored figure it is and when it was computed: how the API and the CLI's --json begin
    an environment's cost document."""
    return {
        "environment": env.suffix,
        "stage": env.stage,
        "owner": env.owner,
        "cost_centre": env.cost_centre,
        "computed_at": None if record is None else record.computed_at.isoformat(),
    }


def idle_finding(record: CostEstimate | None) -> dict[str, Any] | None:
    """The idle finding of a stored figure, or None: its fixed cost is more than
    ENVPORT_COST_IDLE_FIXED_SHARE of its monthly figure, and it served no API request over the last
    ENVPORT_COST_IDLE_DAYS days, having existed for all of them (a younger environment is not idle
    yet). The saving is its monthly figure: what tearing it down saves. Reads the figure only."""
    if record is None or not record.ok:
        return None
    days = settings.ENVPORT_COST_IDLE_DAYS
    share = record.fixed_share
    served = record.requests(days)
    window = next((w for w in (record.figures or {}).get("windows", []) if w.get("days") == days), None)
    if share is None or served is None or window is None:
        return None
    if share <= settings.ENVPORT_COST_IDLE_FIXED_SHARE or served > 0 or window.get("hours", 0) < days * 24:
        return None
    saving = float(record.monthly or 0)
    return {
        "days": days,
        "requests": served,
        "fixed_share": round(share, 4),
        "saving_monthly": saving,
        "summary": f"no request in {days} days, {share:.0%} of its cost is fixed: "
        f"tearing it down saves ${saving:.2f} a month",
    }


def evaluate(env: Environment, record: CostEstimate, now: dt.datetime) -> list[str]:
    """After a figure is stored: the budgets it touches and its idle finding, each notified once
    (budgets: once per threshold per month; idle: once per idle spell). Returns the events sent."""
    if not record.ok:
        return []
    sent = []
    budgets = Budget.objects.filter(enabled=True).filter(
        Q(environment=env) | Q(cost_centre=env.cost_centre) if env.cost_centre else Q(environment=env)
    )
    for budget in budgets:
        event = _budget_event(env, record, budget, now)
        if event:
            sent.append(event)
    key = f"idle:{env.pk}"
    finding = idle_finding(record)
    if finding is None:
        CostAlert.objects.filter(key=key).delete()  # serving again: a later idle spell notifies again
    elif _record_alert(key, "cost.idle", now, environment=env, detail=finding):
        from portal.notifications.events import emit

        emit("cost.idle", env, summary=f"{env.suffix} is idle: {finding['summary']}", detail=finding)
        sent.append("cost.idle")
    return sent


def budget_projection(budget: Budget) -> tuple[Decimal, list[str]]:
    """The month's projection of a budget: the environment's newest figure, or the sum of the newest
    figures of the cost centre's provisioned environments (one query), and the environments summed."""
    if budget.environment is not None:
        envs = [budget.environment]
    else:
        envs = list(provisioned().filter(cost_centre=budget.cost_centre).order_by("suffix"))
    stored = latest_many(envs)
    total = sum((r.monthly or Decimal(0) for r in stored.values()), Decimal(0))
    return total, [env.suffix for env in envs if env.pk in stored]


def _budget_event(env: Environment, record: CostEstimate, budget: Budget, now: dt.datetime) -> str | None:
    projected, members = budget_projection(budget)
    percent = projected / budget.monthly * 100
    crossed = [(t, event) for t, event in THRESHOLDS if percent >= t]
    if not crossed:
        return None
    month = f"{now:%Y-%m}"
    detail = {
        "budget": budget.target,
        "monthly_budget": float(budget.monthly),
        "projected_monthly": float(projected),
        "percent": round(float(percent), 1),
        "month": month,
        "environments": members,
    }
    fresh = [
        (t, event)
        for t, event in crossed
        if _record_alert(
            f"budget:{budget.pk}:{month}:{t}", event, now, environment=env, budget=budget, detail=detail
        )
    ]
    # the highest threshold newly reached is the news (from 50 % to 120 %: the 100 % one alone)
    if not fresh or fresh[0][0] != crossed[0][0]:
        return None
    threshold, event = fresh[0]
    from portal.notifications.events import emit

    emit(
        event,
        env,
        summary=f"{budget.target}: projected ${projected:.2f} this month, {percent:.0f} % of its "
        f"${budget.monthly:.2f} budget (the {threshold} % threshold)",
        detail=detail,
    )
    return event


def _record_alert(key: str, event: str, now: dt.datetime, **fields: Any) -> bool:
    """Record that `key` was sent; False if it already was (then nothing is sent again)."""
    _, created = CostAlert.objects.get_or_create(key=key, defaults={"event": event, "sent_at": now, **fields})
    return created


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"))
