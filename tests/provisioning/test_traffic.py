"""The traffic view (issue 19, item 1): each chart's query against known data, in two AWS calls.

moto in decorator mode with the local cloud's CloudWatch fidelity fixes (percentiles, exact
dimensions, metric math, DescribeAlarmHistory). Data is put with PutMetricData at known minutes,
then the view is read and each chart's series compared with what was put.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from provisioning.aws import AwsClients
from provisioning.spec import EnvironmentSpec
from provisioning.traffic import (
    MAX_DATAPOINTS,
    MAX_QUERIES,
    MAX_VERSIONS,
    RANGES,
    RangeError,
    alarm_names,
    bounds,
    check_limits,
    parse_range,
    queries,
    traffic_view,
)

NOW = dt.datetime(2026, 12, 7, 12, 0, 30, tzinfo=dt.UTC)  # half a minute into 12:00


def at(minutes_ago: int) -> dt.datetime:
    """A moment `minutes_ago` whole minutes before NOW's minute, 10 s into that minute."""
    return NOW.replace(second=10) - dt.timedelta(minutes=minutes_ago)


def put(
    aws: AwsClients,
    namespace: str,
    metric: str,
    dims: dict[str, str],
    when: dt.datetime,
    *values: float,
    unit: str = "Count",
) -> None:
    aws.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": when,
                "Values": list(values),
                "Unit": unit,
            }
        ],
    )


def by_label(view: Any, chart: str) -> dict[str, list[float]]:
    return {s.label: list(s.values) for s in view.chart(chart).series}


@pytest.fixture
def names(spec: EnvironmentSpec) -> Any:
    return spec.names


# R-OBS-1
@pytest.mark.heavy
def test_every_chart_from_one_get_metric_data(aws: AwsClients, names: Any) -> None:
    """issue 19 item 1: API Gateway, Lambda (with each version's share) and DynamoDB charts, all
    series from ONE GetMetricData; alarm bands from ONE DescribeAlarmHistory."""
    api = {"ApiName": names.rest_api, "Stage": names.api_stage}
    fn = {"FunctionName": names.function}
    live = {**fn, "Resource": f"{names.function}:live"}
    table = {"TableName": names.table}
    # two minutes of API traffic: 3 requests then 2 (one 4XX, one 5XX in the second minute)
    put(aws, "AWS/ApiGateway", "Count", api, at(5), 1, 1, 1)
    put(aws, "AWS/ApiGateway", "Count", api, at(2), 1, 1)
    put(aws, "AWS/ApiGateway", "4XXError", api, at(2), 1, 0)
    put(aws, "AWS/ApiGateway", "5XXError", api, at(2), 0, 1)
    put(aws, "AWS/ApiGateway", "Latency", api, at(2), *range(1, 101), unit="Milliseconds")
    put(aws, "AWS/ApiGateway", "IntegrationLatency", api, at(2), *range(1, 11), unit="Milliseconds")
    # another stage of the same API is not ours
    put(aws, "AWS/ApiGateway", "Count", {"ApiName": names.rest_api, "Stage": "other"}, at(2), 1, 1, 1, 1)
    put(aws, "AWS/Lambda", "Invocations", fn, at(2), 1, 1, 1, 1)
    put(aws, "AWS/Lambda", "Errors", fn, at(2), 0, 0, 0, 1)
    put(aws, "AWS/Lambda", "Throttles", fn, at(1), 1)
    put(aws, "AWS/Lambda", "Duration", fn, at(2), *range(10, 110, 10), unit="Milliseconds")
    put(aws, "AWS/Lambda", "ConcurrentExecutions", fn, at(2), 1, 3, 2)
    put(aws, "AWS/Lambda", "Invocations", {**live, "ExecutedVersion": "3"}, at(2), 1, 1, 1)
    put(aws, "AWS/Lambda", "Invocations", {**live, "ExecutedVersion": "4"}, at(2), 1)
    put(aws, "AWS/DynamoDB", "ConsumedReadCapacityUnits", table, at(2), 0.5, 0.5, 1)
    put(aws, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", table, at(2), 1, 1)
    put(aws, "AWS/DynamoDB", "ThrottledRequests", {**table, "Operation": "PutItem"}, at(2), 1)
    put(aws, "AWS/DynamoDB", "ThrottledRequests", {**table, "Operation": "GetItem"}, at(2), 2)
    put(aws, "AWS/DynamoDB", "SystemErrors", {**table, "Operation": "Query"}, at(3), 1)

    view = traffic_view(aws, names, parse_range("1h"), versions=["3", "4"], now=NOW.timestamp())

    assert view.calls.by_operation == {"cloudwatch.GetMetricData": 1, "cloudwatch.DescribeAlarmHistory": 1}
    assert view.calls.total == 2 and view.calls.mutating == 0
    assert by_label(view, "api_requests") == {"Requests": [3, 2], "4XX errors": [1], "5XX errors": [1]}
    requests = view.chart("api_requests").series[0]
    assert requests.timestamps == (at(5).replace(second=0).timestamp(), at(2).replace(second=0).timestamp())
    assert by_label(view, "api_latency") == {
        "Latency p50": [50],
        "Latency p90": [90],
        "Latency p99": [99],
        "Integration latency p90": [9],
    }
    assert by_label(view, "lambda_invocations") == {"Invocations": [4], "Errors": [1], "Throttles": [1]}
    assert by_label(view, "lambda_duration") == {"Duration p90": [90]}
    assert by_label(view, "lambda_concurrency") == {"Concurrent executions (max)": [3]}
    assert by_label(view, "lambda_versions") == {"version 3": [3], "version 4": [1]}
    assert by_label(view, "dynamodb_capacity") == {"Read capacity units": [2], "Write capacity units": [2]}
    # summed over the operations (metric math over hidden per-operation inputs)
    assert by_label(view, "dynamodb_errors") == {"Throttled requests": [3], "System errors": [1]}
    assert view.complete
    document = view.to_dict()
    assert document["range"] == "1h" and document["period_s"] == 60
    assert document["charts"][0]["series"][0]["timestamps"][0] == "2026-12-07T11:55:00Z"


# R-OBS-1
def test_alarm_states_become_bands(aws: AwsClients, names: Any) -> None:
    """issue 19 item 1: the environment's alarm states as bands, from its StateUpdate history;
    another environment's alarm is left out."""
    cloudwatch = aws.client("cloudwatch")
    ours, theirs = alarm_names(names)[0], "envport-other-lambda-errors"
    for name in (ours, theirs):
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum", Period=300,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        )  # fmt: skip
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    cloudwatch.set_alarm_state(AlarmName=ours, StateValue="OK", StateReason="test")
    now = dt.datetime.now(dt.UTC).timestamp()
    view = traffic_view(aws, names, RANGES["1h"], now=now)
    start, end = bounds(RANGES["1h"], now)
    states = [(b.alarm, b.state) for b in view.bands]
    assert states == [(ours, "INSUFFICIENT_DATA"), (ours, "ALARM"), (ours, "OK")]
    assert view.bands[0].start == start and view.bands[-1].end == end
    assert all(b.start <= b.end for b in view.bands)
    assert view.calls.total == 2


def test_no_data_is_empty_series_not_an_error(aws: AwsClients, names: Any) -> None:
    view = traffic_view(aws, names, RANGES["30d"])
    assert all(not s.values for c in view.charts for s in c.series)
    assert view.bands == () and view.calls.total == 2
    assert [c.key for c in view.charts][:2] == ["api_requests", "api_latency"]


@pytest.mark.parametrize("name", list(RANGES))
def test_every_range_fits_one_call(name: str, names: Any) -> None:
    """issue 19 Performance: each range's period keeps the view within GetMetricData's limits
    (500 queries, 100,800 datapoints per call), with the most versions a view charts."""
    window = RANGES[name]
    wanted = queries(names, [str(v) for v in range(1, 40)])
    check_limits(wanted, window)
    returned = [q for q in wanted if not q.hidden]
    assert len(wanted) <= MAX_QUERIES and len(returned) * window.points <= MAX_DATAPOINTS
    assert sum(1 for q in wanted if q.chart == "lambda_versions") == MAX_VERSIONS
    assert window.period % 60 == 0 and window.points <= 1440


def test_thirty_days_is_hourly() -> None:
    """43,200 one-minute points per series would overrun 100,800 datapoints with 3 series."""
    assert (RANGES["1h"].period, RANGES["30d"].period) == (60, 3600)


@pytest.mark.parametrize("hostile", ["2h", "", " 1h; DROP", "x" * 10_000, "30D", "-1h", "1h\n"])
def test_a_range_must_be_one_allowed(hostile: str) -> None:
    """Bounded input: anything but the listed ranges is refused, naming them, before any call."""
    if hostile in ("", "1h\n"):  # empty is the default; surrounding whitespace is trimmed
        assert parse_range(hostile).name == "1h"
        return
    with pytest.raises(RangeError) as refused:
        parse_range(hostile)
    assert "one of 1h, 6h, 24h, 7d, 30d" in str(refused.value)
    assert len(str(refused.value)) < 120


def test_versions_are_digits_only_and_bounded(names: Any) -> None:
    wanted = queries(names, ["$LATEST", "live", "2", "2", "10", "1; x", *[str(v) for v in range(20, 40)]])
    ids = [q.id for q in wanted if q.chart == "lambda_versions"]
    assert ids == [f"fn_version_{v}" for v in range(30, 40)]
