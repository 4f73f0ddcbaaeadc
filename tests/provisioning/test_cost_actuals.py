"""Issue 21 item 4: Cost Explorer's actuals for the environment's cost allocation tag over the last
full days, beside the estimate with the difference; and "not available: <reason>" when Cost
Explorer does not have them.

https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests
from botocore.stub import Stubber
from moto import mock_aws

from provisioning.actuals import read_actuals

TODAY = dt.date(2026, 12, 7)
CALL = {
    "TimePeriod": {"Start": "2026-11-30", "End": "2026-12-07"},
    "Granularity": "DAILY",
    "Metrics": ["UnblendedCost"],
    "Filter": {"Tags": {"Key": "Environment", "Values": ["demo"], "MatchOptions": ["EQUALS"]}},
}


def _day(n: int, amount: str) -> dict[str, Any]:
    start = dt.date(2026, 11, 30) + dt.timedelta(days=n)
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": (start + dt.timedelta(days=1)).isoformat()},
        "Total": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
        "Groups": [],
        "Estimated": n == 6,
    }


@mock_aws
def test_actuals_of_the_last_full_days_beside_the_estimate() -> None:
    """Issue 21 item 4: where Cost Explorer answers for the tag, the last 7 full days' daily
    actuals, their total, and the estimate over the same days with the difference. moto answers
    GetCostAndUsage from results queued through its own API (it does not track costs)."""
    queued = {"results": [{"ResultsByTime": [_day(n, "0.25") for n in range(7)]}]}
    posted = requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results", json=queued
    )
    assert posted.status_code == 201
    found = read_actuals(boto3.client("ce", region_name="us-east-1"), "demo", today=TODAY)
    assert found.available and found.reason == ""
    assert (found.start, found.end, found.days) == (dt.date(2026, 11, 30), TODAY, 7)
    assert found.total == Decimal("1.75") and found.estimated  # the last day is not final yet
    assert found.to_dict()["daily"][0] == {"date": "2026-11-30", "amount": 0.25}
    # the demo's $7.12 a month over 7 days of a 730-hour month: 7.12 x 168 / 730 = $1.6386
    compared = found.compared(Decimal("7.12"))
    assert compared["estimate_for_days"] == pytest.approx(1.6386, abs=1e-4)
    assert compared["difference"] == pytest.approx(1.75 - 1.6386, abs=1e-4)


@pytest.mark.heavy
@mock_aws
def test_no_cost_under_the_tag_is_not_available_and_says_why() -> None:
    """Issue 21 item 4: a tag not activated for cost allocation (or an environment not billed yet)
    answers no cost: "not available", naming the tag, never a $0 actual."""
    found = read_actuals(boto3.client("ce", region_name="us-east-1"), "demo", today=TODAY)
    assert not found.available and found.to_dict()["total"] is None
    assert "no cost under the tag Environment=demo" in found.reason
    assert "not activated as a cost allocation tag" in found.reason
    assert found.compared(Decimal("7.12")) == {"estimate_for_days": None, "difference": None}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("DataUnavailableException", "Cost Explorer has no data for this account yet"),
        ("AccessDeniedException", "no permission for ce:GetCostAndUsage"),
        ("LimitExceededException", "request limit was reached"),
        ("SomethingNewException", "Cost Explorer refused: SomethingNewException"),
    ],
)
def test_cost_explorer_refusals_are_not_available_with_the_reason(code: str, reason: str) -> None:
    """Issue 21 item 4: when Cost Explorer refuses (not enabled or no data yet, no permission, its
    limit), "not available" with the reason. moto cannot make Cost Explorer refuse these ways (it
    has no Cost Explorer account state or IAM enforcement for `ce`), so botocore's Stubber answers
    the error; it also pins the call's shape: one GetCostAndUsage, DAILY, the last 7 full days,
    filtered by the Environment tag."""
    ce = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(ce) as stub:
        stub.add_client_error("get_cost_and_usage", service_error_code=code, expected_params=CALL)
        found = read_actuals(ce, "demo", today=TODAY)
        stub.assert_no_pending_responses()
    assert not found.available and reason in found.reason and found.calls == 1


def test_days_are_limited() -> None:
    """Issue 21 item 4, hostile input: 1 to 30 days, before any call."""
    for days in (0, 31, -1):
        with pytest.raises(ValueError, match="1 to 30"):
            read_actuals(object(), "demo", today=TODAY, days=days)
