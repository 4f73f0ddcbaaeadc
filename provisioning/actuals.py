"""What Cost Explorer says an environment cost over its last full days, beside the estimate.

Every resource the engine makes carries the `Environment` tag with the environment's suffix
(R-ENV-3). Where that tag is activated as a cost allocation tag, Cost Explorer's GetCostAndUsage,
filtered by it, answers the environment's actual daily cost, about a day late:
https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html
It is not always there, and then it says why instead of a figure: no `ce:GetCostAndUsage`
permission (AccessDeniedException), Cost Explorer not enabled or its data not ready yet
(DataUnavailableException), or no cost under the tag at all (a tag not activated for cost
allocation yields nothing, as does an environment too new to be billed):
https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/activating-tags.html
One call ($0.01 each: asked on demand, not by the hourly schedule). Nothing here imports Django.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .aws import error_code

TAG_KEY = "Environment"
METRIC = "UnblendedCost"
DEFAULT_DAYS = 7
MAX_DAYS = 30
REASONS = {
    "AccessDeniedException": "no permission for ce:GetCostAndUsage",
    "AccessDenied": "no permission for ce:GetCostAndUsage",
    "DataUnavailableException": "Cost Explorer has no data for this account yet (not enabled, or "
    "enabled less than a day ago)",
    "LimitExceededException": "Cost Explorer's request limit was reached; try later",
    "BillExpirationException": "the period asked for is beyond the bills Cost Explorer keeps",
}


@dataclass(frozen=True)
class Actuals:
    """The environment's actual cost over [start, end) (end exclusive: the last full days), or
    `reason` why there is none."""

    environment: str
    start: dt.date
    end: dt.date
    available: bool
    reason: str = ""
    daily: tuple[tuple[str, Decimal], ...] = ()
    currency: str = "USD"
    estimated: bool = False  # Cost Explorer marks figures of days not yet final
    calls: int = 0

    @property
    def total(self) -> Decimal:
        return sum((amount for _, amount in self.daily), Decimal(0))

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def compared(self, monthly_estimate: Decimal | None) -> dict[str, Any]:
        """Beside an estimate: the estimate's monthly figure over the same days (730 hours a month)
        and the difference, actual minus estimate."""
        if not self.available or monthly_estimate is None:
            return {"estimate_for_days": None, "difference": None}
        expected = monthly_estimate * Decimal(self.days * 24) / Decimal(730)
        return {
            "estimate_for_days": float(round(expected, 4)),
            "difference": float(round(self.total - expected, 4)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
            "available": self.available,
            "reason": self.reason,
            "daily": [{"date": day, "amount": float(amount)} for day, amount in self.daily],
            "total": float(self.total) if self.available else None,
            "currency": self.currency,
            "estimated": self.estimated,
            "tag": {"key": TAG_KEY, "value": self.environment},
        }


def read_actuals(ce: Any, suffix: str, *, today: dt.date, days: int = DEFAULT_DAYS) -> Actuals:
    """Cost Explorer's daily cost of the resources tagged `Environment=suffix` over the `days`
    full days before `today` (UTC), or why it is not available. `ce`: a boto3 Cost Explorer
    client. One GetCostAndUsage call (results of DAILY granularity over 30 days fit one page)."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days: {days} is not allowed; 1 to {MAX_DAYS}")
    start, end = today - dt.timedelta(days=days), today

    def unavailable(reason: str, calls: int = 1) -> Actuals:
        return Actuals(suffix, start, end, available=False, reason=reason, calls=calls)

    try:
        answer = ce.get_cost_and_usage(
            TimePeriod={"Start": start.isoformat(), "End": end.isoformat()},
            Granularity="DAILY",
            Metrics=[METRIC],
            Filter={"Tags": {"Key": TAG_KEY, "Values": [suffix], "MatchOptions": ["EQUALS"]}},
        )
    except Exception as exc:
        code = error_code(exc)
        if not code:
            return unavailable(f"Cost Explorer did not answer: {exc}"[:300], calls=0)
        return unavailable(REASONS.get(code, f"Cost Explorer refused: {code}"))
    daily: list[tuple[str, Decimal]] = []
    currency, estimated = "USD", False
    for period in answer.get("ResultsByTime", []):
        cost = period.get("Total", {}).get(METRIC) or {}
        if "Amount" not in cost:
            continue
        daily.append((str(period["TimePeriod"]["Start"]), Decimal(str(cost["Amount"]))))
        currency = str(cost.get("Unit") or currency)
        estimated = estimated or bool(period.get("Estimated"))
    if not daily or not any(amount for _, amount in daily):
        return unavailable(
            f"no cost under the tag {TAG_KEY}={suffix}: the tag is not activated as a cost "
            "allocation tag, or nothing is billed under it yet"
        )
    return Actuals(
        suffix,
        start,
        end,
        available=True,
        daily=tuple(daily),
        currency=currency,
        estimated=estimated,
        calls=1,
    )
