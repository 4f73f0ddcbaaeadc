"""The local cloud writes the number lists of a JSON answer in one pass (localcloud/cloudwatch/fixes.py
"json-answer-number-lists", issue 19 Performance): what it writes is what moto's serializer wrote
item by item, only faster.

GetMetricData answers `Timestamps` and `Values` lists per query, up to 100,800 datapoints per call
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html); in the
JSON protocol a timestamp is epoch seconds
(https://smithy.io/2.0/aws/protocols/aws-json-1_0-protocol.html#shape-serialization).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.serialize import BaseJSONSerializer, TimestampSerializer

from localcloud import fidelity
from localcloud.cloudwatch.fixes import unix_timestamp

MOMENTS = [
    dt.datetime(2026, 12, 7, 10, 0, 30),
    dt.datetime(2026, 12, 7, 10, 0, 30, 123456),
    dt.datetime(2026, 12, 7, 10, 0, 30, 999),  # under a millisecond: whole seconds, as moto
    dt.datetime(2026, 12, 7, 10, 0, 30, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 7, 11, 0, 30, 5000, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_a_timestamp_is_written_as_moto_writes_it(moment: dt.datetime) -> None:
    moto = TimestampSerializer("unixtimestamp")._convert_timestamp_to_str(moment, "unixtimestamp")
    assert unix_timestamp(moment) == moto
    assert type(unix_timestamp(moment)) is type(moto)


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    fidelity.apply()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_get_metric_data_answers_the_same_lists_through_the_one_pass(
    cloudwatch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same query answered with the one-pass lists and with moto's item-by-item writer."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    dims = [{"Name": "ApiName", "Value": "a"}, {"Name": "Stage", "Value": "dev"}]
    cloudwatch.put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {"MetricName": "Latency", "Dimensions": dims, "Value": 10.5 + m, "Unit": "Milliseconds",
             "Timestamp": now - dt.timedelta(minutes=m, seconds=-7)}
            for m in range(1, 120)
        ],
    )  # fmt: skip

    def ask() -> list[dict[str, Any]]:
        answer = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {"Id": "p90", "MetricStat": {"Metric": {"Namespace": "AWS/ApiGateway",
                 "MetricName": "Latency", "Dimensions": dims}, "Period": 60, "Stat": "p90"}},
                {"Id": "twice", "Expression": "p90 * 2"},
            ],
            StartTime=now - dt.timedelta(hours=3),
            EndTime=now,
        )  # fmt: skip
        return [(r["Id"], r["Timestamps"], r["Values"]) for r in answer["MetricDataResults"]]

    fast = ask()
    assert len(fast[0][1]) == 119 and fast[0][2][0] == 11.5 and fast[1][2][0] == 23.0
    installed = BaseJSONSerializer._serialize_type_list
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_list", installed.__wrapped__)
    assert ask() == fast


@pytest.mark.parametrize("function", ["SUM", "AVG", "MIN", "MAX"])
def test_math_over_ids_answers_what_the_general_evaluation_answers(function: str) -> None:
    """SUM/AVG/MIN/MAX of [ids] take a shorter path; a period where some inputs have no value uses
    the others, one where none has is left out (metric math:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)."""
    import ast

    from localcloud.cloudwatch import statistics

    t = [dt.datetime(2026, 12, 7, 10, m) for m in range(4)]
    series = {"a": {t[0]: 1.0, t[1]: 4.0}, "b": {t[1]: 2.0, t[2]: -3.0}, "c": {}}
    expression = f"{function}([a, b, c])"
    fast = statistics.evaluate_expression(expression, series)
    tree = ast.parse(expression, mode="eval").body
    general = {s: statistics._value(tree, series, s) for s in t}
    assert fast == {s: v for s, v in general.items() if v is not None}
    assert set(fast) == {t[0], t[1], t[2]}
