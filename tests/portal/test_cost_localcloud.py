"""Issue 21, "done when": a known load against an environment in the local cloud, over HTTP, costs
what the hand calculation from the price table says. The local cloud's gateway and runtime put
API Gateway's and Lambda's metrics into CloudWatch as AWS does (localcloud/cloudwatch/metrics.py), and the
function's EMF lines become its custom metrics."""

from __future__ import annotations

import time
import urllib.request
from decimal import Decimal
from typing import Any

import pytest

from portal.models import Environment
from provisioning import pricing

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

REQUESTS = 8


def _get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=30) as answer:  # the local cloud
        return int(answer.status)


def test_requests_through_the_local_cloud_cost_what_the_price_table_says(
    cli: Any, make_env: Any, local_target: Any
) -> None:
    make_env("cost-e2e")
    provisioned = cli("provision", "cost-e2e", "--no-verify", "--inline", "--json")
    assert provisioned.code == 0, provisioned.err + provisioned.out
    env = Environment.objects.get(suffix="cost-e2e")
    key = local_target.client("apigateway").get_api_key(apiKey=env.outputs["api_key_id"], includeValue=True)[
        "value"
    ]
    for _ in range(REQUESTS):
        assert _get(env.outputs["api_endpoint"] + "/items?limit=5", key) == 200
        time.sleep(0.15)  # under the dev stage's 10 requests a second

    result = cli("cost", "cost-e2e", "--refresh", "--json")
    assert result.code == 0, result.err
    estimate = result.json()["environments"][0]["estimate"]
    assert estimate["calls"]["total"] == 3  # one GetMetricData, one DescribeTable, one ListBackups
    day = next(w for w in estimate["windows"] if w["days"] == 1)
    totals = {k: Decimal(str(v)) for k, v in day["totals"].items()}
    assert totals["api_count"] == REQUESTS
    assert totals["function_invocations"] == REQUESTS
    assert totals["emf_requests"] == REQUESTS  # the function's EMF metric, extracted from its log
    assert totals["function_duration"] > 0

    # By hand, from the price table: the environment is younger than a day, so the window's totals
    # are extrapolated over the hours it has existed.
    prices = pricing.load("us-east-1")
    month = Decimal(730) / Decimal(str(day["hours"]))
    lines = {line["price_id"]: line for line in day["lines"]}
    api = REQUESTS * month * prices.row("apigateway.rest.requests").unit_price / 1_000_000
    invocations = REQUESTS * month * prices.row("lambda.requests").unit_price / 1_000_000
    gb_seconds = totals["function_duration"] / 1000 * Decimal("0.25") * month  # 256 MB
    duration = gb_seconds * prices.row("lambda.duration.arm64").unit_price
    custom = 1 * prices.row("cloudwatch.custom_metrics").unit_price  # only `Requests` was published
    for price_id, amount in (
        ("apigateway.rest.requests", api),
        ("lambda.requests", invocations),
        ("lambda.duration.arm64", duration),
        ("cloudwatch.custom_metrics", custom),
    ):
        assert lines[price_id]["amount"] == pytest.approx(float(amount), abs=1e-6), price_id  # 6 decimals
    # Fixed, from the graph: the key, 22 alarm metrics, the dashboard.
    assert estimate["fixed_monthly"] == pytest.approx(6.20)
