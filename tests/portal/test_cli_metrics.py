"""manage.py metrics NAME [--since 1h] [--json] (issue 19 item 4): a compact table, the series in JSON."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

pytestmark = pytest.mark.django_db


def put_count(env, *values: float) -> None:
    names = env.spec().names
    boto3.client("cloudwatch", region_name=env.region).put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": "Count",
                "Dimensions": [
                    {"Name": "ApiName", "Value": names.rest_api},
                    {"Name": "Stage", "Value": names.api_stage},
                ],
                "Timestamp": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
                "Values": list(values),
            }
        ],
    )


def test_the_table_and_the_json(moto_target, make_env, cli):
    """issue 19 item 4: the table names each series with its total, and the calls of the view."""
    env = make_env("dev1", "dev", status="ready")
    put_count(env, 1, 1, 1, 1, 1)
    table = cli("metrics", "dev1", "--since", "6h")
    assert table.code == 0, table.err
    assert (
        "dev1: last 6h in 300 s periods; 2 AWS calls (DescribeAlarmHistory 1, GetMetricData 1)" in table.out
    )
    row = next(line for line in table.out.splitlines() if "api_requests: Requests" in line)
    assert row.split()[-4:] == ["1", "5", "5", "5"]  # points, last, max, total
    document = cli("metrics", "dev1", "--json").json()
    assert document["environment"] == "dev1" and document["range"] == "1h"
    requests = document["charts"][0]["series"][0]
    assert (requests["label"], requests["values"]) == ("Requests", [5.0])


def test_a_bad_range_exits_2_listing_the_allowed(make_env, cli):
    """Bounded input: exit 2 before any AWS call (no moto here), the allowed ranges named."""
    make_env("dev1", "dev", status="ready")
    refused = cli("metrics", "dev1", "--since", "90m")
    assert refused.code == 2
    assert "one of 1h, 6h, 24h, 7d, 30d" in refused.err
    as_json = cli("metrics", "dev1", "--since", "y" * 4000, "--json")
    assert as_json.code == 2 and as_json.json()["status"] == "refused"
    assert cli("metrics", "nosuch").code == 2
