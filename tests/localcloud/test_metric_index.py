"""The local cloud's index of put metric data (localcloud/cloudwatch/statistics.py `MetricIndex`): queries see
exactly what a scan of every datum saw, only faster (issue 19 Performance).

What a query matches is CloudWatch's rule: a metric is its namespace, name and exact dimension set
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#dimension-combinations),
and GetMetricData answers data in [StartTime, EndTime)
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends

from localcloud import fidelity
from localcloud.cloudwatch import statistics

T0 = dt.datetime(2026, 12, 1, 10, 0)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    fidelity.apply()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def put(client: Any, minute: int, value: float, dims: dict[str, str], metric: str = "Count") -> None:
    client.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": T0 + dt.timedelta(minutes=minute, seconds=5),
                "Value": value,
            }
        ],
    )


def values(dims: dict[str, str], start: int = 0, end: int = 60, metric: str = "Count") -> list[float]:
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    found = statistics.metric_data(
        backend, "AWS/ApiGateway", metric, [{"Name": k, "Value": v} for k, v in dims.items()],
        start=T0 + dt.timedelta(minutes=start), end=T0 + dt.timedelta(minutes=end),
    )  # fmt: skip
    return [d.value for d in found]


def test_data_put_after_a_query_is_seen_in_time_order(cloudwatch: Any) -> None:
    stage = {"ApiName": "a", "Stage": "dev"}
    put(cloudwatch, 5, 1.0, stage)
    assert values(stage) == [1.0]
    put(cloudwatch, 9, 3.0, stage)
    put(cloudwatch, 2, 2.0, stage)  # late data, older than what the index holds
    assert values(stage) == [2.0, 1.0, 3.0]
    assert values(stage, start=3, end=9) == [1.0]  # [start, end): minute 9 is outside


def test_exact_dimensions_name_and_unit_as_before(cloudwatch: Any) -> None:
    stage, api = {"ApiName": "a", "Stage": "dev"}, {"ApiName": "a"}
    put(cloudwatch, 1, 1.0, stage)
    put(cloudwatch, 1, 7.0, api)
    put(cloudwatch, 1, 9.0, stage, metric="Latency")
    assert (values(stage), values(api), values({"Stage": "dev", "ApiName": "a"})) == ([1.0], [7.0], [1.0])
    assert values(stage, metric="Latency") == [9.0]
    assert values({"ApiName": "b", "Stage": "dev"}) == []


def test_a_reset_starts_from_nothing(cloudwatch: Any) -> None:
    stage = {"ApiName": "a", "Stage": "dev"}
    put(cloudwatch, 1, 1.0, stage)
    assert values(stage) == [1.0]
    cloudwatch_backends["123456789012"]["us-east-1"].metric_data.clear()
    assert values(stage) == []
    put(cloudwatch, 2, 4.0, stage)
    assert values(stage) == [4.0]


def test_buckets_by_binary_search_match_windows() -> None:
    class Datum:
        def __init__(self, minute: float) -> None:
            self.timestamp = T0 + dt.timedelta(minutes=minute)

    windows = [(T0 + dt.timedelta(minutes=m), T0 + dt.timedelta(minutes=m + 5)) for m in (0, 5, 10)]
    data = [Datum(m) for m in (-1, 0, 4.99, 5, 14.99, 15)]
    assert [len(b) for b in statistics.bucket(data, windows)] == [2, 1, 1]


@pytest.mark.heavy
def test_get_metric_data_still_refuses_an_empty_or_reversed_range(cloudwatch: Any) -> None:
    """Without Metrics Insights queries moto's own get_metric_data is no longer called (it looked at
    every datum ever put); its check of StartTime and EndTime is kept (GetMetricData reference:
    EndTime is exclusive and after StartTime)."""
    from botocore.exceptions import ClientError

    query = {
        "Id": "m1",
        "MetricStat": {
            "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": []},
            "Period": 60,
            "Stat": "Sum",
        },
    }
    for start, end in ((T0, T0), (T0 + dt.timedelta(minutes=5), T0)):
        with pytest.raises(ClientError) as refused:
            cloudwatch.get_metric_data(MetricDataQueries=[query], StartTime=start, EndTime=end)
        assert "StartTime" in str(refused.value)
    put(cloudwatch, 1, 2.0, {})
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[query], StartTime=T0, EndTime=T0 + dt.timedelta(minutes=5)
    )
    assert answer["MetricDataResults"][0]["Values"] == [2.0]


def test_a_period_computed_once_is_recomputed_when_data_lands_in_it(cloudwatch: Any) -> None:
    """Each period's statistic is kept once computed (CloudWatch keeps aggregates); a datum put
    later, even late data for an old period, changes exactly the periods that hold its time."""
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    stage = {"ApiName": "a", "Stage": "dev"}
    dims = [{"Name": k, "Value": v} for k, v in stage.items()]
    windows = [(T0 + dt.timedelta(minutes=m), T0 + dt.timedelta(minutes=m + 5)) for m in (0, 5, 10)]

    def sums() -> list[float | None]:
        return statistics.metric_statistics(backend, "AWS/ApiGateway", "Count", dims, None, windows, "Sum")

    put(cloudwatch, 1, 1.0, stage)
    put(cloudwatch, 6, 2.0, stage)
    assert sums() == [1.0, 2.0, None]
    put(cloudwatch, 7, 5.0, stage)  # into the second period only
    put(cloudwatch, 12, 4.0, stage)  # into the third, empty until now
    assert sums() == [1.0, 7.0, 4.0]
    p90 = statistics.metric_statistics(backend, "AWS/ApiGateway", "Count", dims, None, windows, "p90")
    assert p90 == [1.0, 5.0, 4.0]
    put(cloudwatch, 0, 10.0, stage)  # late data for the first period
    assert sums() == [11.0, 7.0, 4.0]
