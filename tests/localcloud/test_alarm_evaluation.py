"""Alarm evaluation as CloudWatch documents it (issue 22, item 1): clock-aligned periods, the evaluation
range and TreatMissingData, state reasons, extended statistics.

Pages followed:
- "Using Amazon CloudWatch alarms", alarm evaluation and "How alarm state is evaluated when data is
  missing": https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarms-evaluating-missing-data
- "Configuring how CloudWatch alarms treat missing data":
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
- GetMetricStatistics / GetMetricData StartTime rounding:
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html,
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
- "CloudWatch statistics definitions":
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html

moto in decorator mode; each test evaluates an alarm at a chosen instant against data put at chosen
clock-aligned times, through the same ``alarms.evaluate`` the local cloud's evaluator thread runs.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID

from localcloud import fidelity
from localcloud.cloudwatch import alarms
from provisioning.resources.alarms import ALARMS, MISSING_DATA, OPERATOR, PERIOD
from provisioning.spec import PROFILES

REGION = "us-east-1"
DIMS = [{"Name": "Fn", "Value": "f"}]


@pytest.fixture
def cw() -> Iterator[Any]:
    fidelity.apply()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def backend() -> Any:
    return cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION]


def boundary(period: int = 60, back: int = 0) -> float:
    """A clock-aligned period start some periods before now (epoch seconds)."""
    return (time.time() // period - back) * period


def put_at(cw: Any, epoch: float, values: list[float], name: str = "Errors") -> None:
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {
                "MetricName": name,
                "Values": values,
                "Timestamp": dt.datetime.fromtimestamp(epoch, dt.UTC),
                "Dimensions": DIMS,
            }
        ],
    )


def make_alarm(cw: Any, name: str = "a", **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "App",
        "MetricName": "Errors",
        "Dimensions": DIMS,
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 6.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    args.update(overrides)
    cw.put_metric_alarm(**{k: v for k, v in args.items() if v is not None})
    return backend().alarms[name]


def evaluate(cw: Any, moto_alarm: Any, now: float) -> dict[str, Any]:
    alarms.apply(backend(), moto_alarm, alarms.evaluate(backend(), moto_alarm, now))
    return dict(cw.describe_alarms(AlarmNames=[moto_alarm.name])["MetricAlarms"][0])


def stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%d/%m/%y %H:%M:%S")


# -- clock-aligned periods ----------------------------------------------------------------------------


@pytest.mark.heavy
def test_values_either_side_of_a_minute_boundary_are_two_datapoints(cw: Any) -> None:
    """Issue 22, period alignment: 4 values just before and 4 just after a minute boundary formed one
    Sum of 8 and a `Sum >= 6` alarm went to ALARM; on AWS they are two datapoints of 4 and it stays OK.
    Alarm datapoints are per period of the clock ("If you choose one minute as the period, there is
    one datapoint every minute", AlarmThatSendsEmail.html#alarm-evaluation)."""
    edge = boundary(60, back=1)
    put_at(cw, edge - 1, [1, 1, 1, 1])
    put_at(cw, edge + 1, [1, 1, 1, 1])
    one = make_alarm(cw, "one")
    two_of_two = make_alarm(cw, "two", EvaluationPeriods=2, DatapointsToAlarm=1)
    # Evaluated half a minute after the second minute ended: both minutes are in the range.
    now = edge + 60 + 30
    assert evaluate(cw, one, now)["StateValue"] == "OK"
    described = evaluate(cw, two_of_two, now)
    assert described["StateValue"] == "OK"
    data = json.loads(described["StateReasonData"])
    assert [p["value"] for p in data["evaluatedDatapoints"]] == [4.0, 4.0]
    minutes = [dt.datetime.fromtimestamp(t, dt.UTC) for t in (edge, edge - 60)]
    assert [p["timestamp"] for p in data["evaluatedDatapoints"]] == [
        t.strftime("%Y-%m-%dT%H:%M:%S.000+0000") for t in minutes
    ]
    # The same 8 values inside one minute are one datapoint of 8.
    put_at(cw, edge + 2, [1, 1])  # minute [edge, edge+60) now holds 6
    assert evaluate(cw, one, now)["StateValue"] == "ALARM"


def test_time_scaled_periods_are_aligned_to_their_scaled_length(cw: Any) -> None:
    """With the local cloud's alarm time scale (0.05: a 60 s period lasts 3 s), periods are aligned to
    multiples of 3 s and the evaluation range scales with them; the alarm keeps its 60 s period."""
    scale = 0.05
    edge = boundary(3, back=2)
    put_at(cw, edge - 0.5, [1, 1, 1, 1])
    put_at(cw, edge + 0.5, [1, 1, 1, 1])
    moto_alarm = make_alarm(cw, TreatMissingData="notBreaching")
    backend_ = backend()
    evaluation = alarms.evaluate(backend_, moto_alarm, edge + 3 + 1, time_scale=scale)
    assert evaluation is not None and evaluation.state == "OK"
    assert evaluation.reason_data["period"] == 60
    assert [p["value"] for p in evaluation.reason_data["evaluatedDatapoints"]] == [4.0]
    assert evaluation.reason_data["recentDatapoints"] == [4.0, 4.0]  # both in the 3-period range
    # Three scaled periods later both datapoints have left the range: notBreaching fills decide.
    later = alarms.evaluate(backend_, moto_alarm, edge + 4 * 3 + 1, time_scale=scale)
    assert later is not None and later.state == "OK" and later.reason_data["recentDatapoints"] == []


def test_the_period_still_running_is_not_evaluated(cw: Any) -> None:
    """Only periods that have ended are datapoints: a value put in the current minute is evaluated
    once that minute is over (queryDate after the last evaluated timestamp's period, as in AWS's
    StateReasonData)."""
    now = boundary(60) + 30
    put_at(cw, now - 10, [9])  # in the minute still running at `now`
    moto_alarm = make_alarm(cw, TreatMissingData="notBreaching")
    assert evaluate(cw, moto_alarm, now)["StateValue"] == "OK"
    assert evaluate(cw, moto_alarm, now + 60)["StateValue"] == "ALARM"


@pytest.mark.heavy
def test_metric_statistics_start_time_is_rounded_down_to_the_minute(cw: Any) -> None:
    """GetMetricStatistics StartTime: "Start time less than 15 days ago - Round down to the nearest
    whole minute. For example, 12:32:34 is rounded down to 12:32:00." (API reference); GetMetricData
    likewise; high-resolution periods to the period's division of the minute."""
    edge = boundary(60, back=3)
    put_at(cw, edge + 5, [2])
    put_at(cw, edge + 55, [3])
    start = dt.datetime.fromtimestamp(edge + 34, dt.UTC)
    end = dt.datetime.fromtimestamp(edge + 60, dt.UTC)
    points = cw.get_metric_statistics(
        Namespace="App", MetricName="Errors", Dimensions=DIMS, StartTime=start, EndTime=end,
        Period=60, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert [(p["Timestamp"].timestamp(), p["Sum"]) for p in points] == [(edge, 5.0)]
    query = {"Metric": {"Namespace": "App", "MetricName": "Errors", "Dimensions": DIMS}, "Period": 60}
    result = cw.get_metric_data(
        MetricDataQueries=[{"Id": "s", "MetricStat": {**query, "Stat": "Sum"}}], StartTime=start, EndTime=end
    )["MetricDataResults"][0]
    assert [t.timestamp() for t in result["Timestamps"]] == [edge] and result["Values"] == [5.0]
    ten = cw.get_metric_statistics(
        Namespace="App", MetricName="Errors", Dimensions=DIMS, StartTime=start, EndTime=end,
        Period=10, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert [(p["Timestamp"].timestamp(), p["Sum"]) for p in ten] == [(edge + 50, 3.0)]


# -- the evaluation range and TreatMissingData: AWS's published tables ----------------------------------

# The tables of "How alarm state is evaluated when data is missing", Period 5 minutes, the evaluation
# range 5 datapoints, oldest on the left ("0" not breaching, "X" breaching, "-" missing); the states for
# TreatMissingData missing, ignore, breaching, notBreaching ("retain": Retain current state). The first
# table has DatapointsToAlarm = EvaluationPeriods = 3, the second is 2 out of 3. The page's current
# version has 6 + 5 rows (11 rows x 4 treatments = 44 cells); an earlier version of the first table
# wrote "- - - - X" where the current one has "X - - - -" too: both rows are here.
TABLE_3_OF_3 = [
    ("0 - X - X", "OK", "OK", "OK", "OK"),
    ("0 - - - -", "OK", "OK", "OK", "OK"),
    ("- - - - -", "INSUFFICIENT_DATA", "retain", "ALARM", "OK"),
    ("0 X X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - - - X", "INSUFFICIENT_DATA", "retain", "ALARM", "OK"),
    ("X - - - -", "ALARM", "retain", "ALARM", "OK"),
]
TABLE_2_OF_3 = [
    ("0 - X - X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", "OK", "OK", "ALARM", "OK"),
    ("- - - - X", "INSUFFICIENT_DATA", "retain", "ALARM", "OK"),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
# `make test-fast` samples each table's first row under every treatment; the other rows are marked
# `sweep`, which `make test` (CI) runs.
CELLS = [
    pytest.param(
        needed,
        row,
        treatment,
        states[i],
        id=f"{needed}of3[{row}]-{treatment}",
        marks=() if row == table[0][0] else (pytest.mark.sweep,),
    )
    for needed, table in ((3, TABLE_3_OF_3), (2, TABLE_2_OF_3))
    for row, *states in table
    for i, treatment in enumerate(TREATMENTS)
]


@pytest.mark.parametrize(("needed", "row", "treatment", "expected"), CELLS)
def test_every_cell_of_awss_missing_data_tables(
    cw: Any, needed: int, row: str, treatment: str, expected: str
) -> None:
    """Issue 22, missing data: the local cloud evaluated exactly N periods, and 7 cells of AWS's table
    came out differently (`X----` gave INSUFFICIENT_DATA where AWS gives ALARM; `0XX-X` gave OK where
    AWS gives ALARM). Every cell of both tables of AlarmThatSendsEmail.html#alarms-evaluating-missing-data,
    for each TreatMissingData value, from data put into CloudWatch and evaluated by the evaluator."""
    period = 300
    end = boundary(period)  # the evaluation range ends at the last 5-minute boundary
    for index, mark in enumerate(row.split()):
        if mark != "-":
            put_at(cw, end - (5 - index) * period + 10, [9.0 if mark == "X" else 1.0])
    # "Retain current state": checked from both OK and ALARM.
    starts = ("OK", "ALARM") if expected == "retain" else ("OK", "ALARM", "INSUFFICIENT_DATA")
    for start in starts:
        name = f"a-{start}"
        moto_alarm = make_alarm(
            cw, name, Period=period, EvaluationPeriods=3, DatapointsToAlarm=needed, Threshold=5.0,
            TreatMissingData=treatment,
        )  # fmt: skip
        if start != "INSUFFICIENT_DATA":
            cw.set_alarm_state(AlarmName=name, StateValue=start, StateReason="test start")
        state = evaluate(cw, moto_alarm, end + 30)["StateValue"]
        assert state == (start if expected == "retain" else expected), (row, treatment, start)


def test_decide_names_the_datapoints_it_evaluated() -> None:
    """The decision behind the table: with enough real datapoints the most recent EvaluationPeriods of
    them ("0 X X - X": the last three real ones, the 0 left out); with fewer, every real one and the
    missing ones filled in "as few times as possible"."""
    x, o, m = True, False, None  # the page's X, 0 and -
    full = alarms.decide([o, x, x, m, x], 3, 3, "missing")
    assert (full.state, full.evaluated, full.filled, full.breaching) == ("ALARM", (1, 2, 4), 0, 3)
    partial = alarms.decide([o, m, x, m, m], 3, 2, "breaching")
    assert (partial.state, partial.evaluated, partial.filled, partial.breaching) == ("ALARM", (0, 2), 1, 2)
    assert alarms.decide([m] * 5, 3, 3, "ignore").state is None
    assert alarms.evaluation_range(3) == 5 and alarms.evaluation_range(1) == 3


def test_an_error_count_alarm_re_evaluates_its_last_datapoint_while_the_metric_is_silent(cw: Any) -> None:
    """AlarmThatSendsEmail.html, note: "CloudWatch alarms may repeatedly re-evaluate the last set of data
    points for a period of time after the metric has stopped flowing". An Errors alarm treating missing
    data as notBreaching stays in ALARM while its breaching datapoint is in the evaluation range (1 + 2
    periods), then goes to OK."""
    edge = boundary(60, back=1)
    put_at(cw, edge + 5, [7])
    moto_alarm = make_alarm(cw, TreatMissingData="notBreaching")
    states = [evaluate(cw, moto_alarm, edge + 60 * k + 30)["StateValue"] for k in range(1, 5)]
    assert states == ["ALARM", "ALARM", "ALARM", "OK"]
    reason = evaluate(cw, moto_alarm, edge + 60 * 4 + 30)["StateReason"]
    assert reason == (
        "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was "
        "treated as [NonBreaching]."
    )


# -- state reasons --------------------------------------------------------------------------------------


def test_state_reason_and_data_are_in_awss_format(cw: Any) -> None:
    """Issue 22, texts: reasons used unaligned timestamps and unformatted numbers (`[100 (…14:20:01)]`
    against AWS's `[100.0 (…14:20:00)]`). StateReason and StateReasonData as DescribeAlarms and the
    alarm history show them (AlarmThatSendsEmail.html; DescribeAlarmHistory's StateUpdate items)."""
    edge = boundary(60, back=1)
    put_at(cw, edge + 1, [100])
    moto_alarm = make_alarm(cw)
    now = edge + 60 + 12.5
    described = evaluate(cw, moto_alarm, now)
    assert described["StateReason"] == (
        f"Threshold Crossed: 1 datapoint [100.0 ({stamp(edge)})] was greater than or equal to the "
        "threshold (6.0)."
    )
    data = json.loads(described["StateReasonData"])
    iso = dt.datetime.fromtimestamp(edge, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    assert data == {
        "version": "1.0",
        "queryDate": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.500+0000"),
        "startDate": dt.datetime.fromtimestamp(edge - 120, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "statistic": "Sum",
        "period": 60,
        "recentDatapoints": [100.0],
        "threshold": 6.0,
        "evaluatedDatapoints": [{"timestamp": iso, "sampleCount": 1.0, "value": 100.0}],
    }
    history = cw.describe_alarm_history(AlarmName="a", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    new_state = json.loads(history[0]["HistoryData"])["newState"]
    assert new_state["stateReason"] == described["StateReason"] and new_state["stateReasonData"] == data


@pytest.mark.heavy
def test_an_ok_reason_lists_only_the_datapoints_that_did_not_breach(cw: Any) -> None:
    """Issue 22, texts: an OK reason said "0 out of 3 … were not greater" while listing breaching values.
    AWS's sentence counts and lists the datapoints it is about, most recent first, with the minimum for
    the transition."""
    edge = boundary(60)
    for back, value in ((3, 1.0), (2, 9.0), (1, 2.5)):
        put_at(cw, edge - back * 60 + 1, [value])
    moto_alarm = make_alarm(cw, EvaluationPeriods=3, DatapointsToAlarm=2)
    described = evaluate(cw, moto_alarm, edge + 30)
    assert described["StateValue"] == "OK"
    assert described["StateReason"] == (
        f"Threshold Crossed: 2 out of the last 3 datapoints [2.5 ({stamp(edge - 60)}), "
        f"1.0 ({stamp(edge - 180)})] were not greater than or equal to the threshold (6.0) "
        "(minimum 2 datapoints for ALARM -> OK transition)."
    )
    put_at(cw, edge - 60 + 2, [7.0])  # the last minute now holds 9.5: two of three breach
    described = evaluate(cw, moto_alarm, edge + 30)
    assert described["StateReason"] == (
        f"Threshold Crossed: 2 out of the last 3 datapoints [9.5 ({stamp(edge - 60)}), "
        f"9.0 ({stamp(edge - 120)})] were greater than or equal to the threshold (6.0) "
        "(minimum 2 datapoints for OK -> ALARM transition)."
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100, "100.0"),
        (0.5, "0.5"),
        (6, "6.0"),
        (0, "0.0"),
        (1e7, "1.0E7"),
        (-2.5e-4, "-2.5E-4"),
        (1234.5, "1234.5"),
    ],
)
def test_numbers_are_written_as_cloudwatch_writes_them(value: float, text: str) -> None:
    """State reasons write doubles as Java does (`100.0`, `6.0`; 1.0E7 from ten million)."""
    assert alarms.number(value) == text


# -- extended statistics --------------------------------------------------------------------------------

EXPECTED_1_TO_100 = {
    "p50": 50.0,
    "tm90": 45.5,  # mean of 1..90: the highest 10% removed
    "TM(10%:90%)": 50.5,  # 11..90
    "TM(:90%)": 45.5,
    "IQM": 50.5,  # TM(25%:75%): 26..75
    "TM(50:60)": 55.5,  # absolute boundaries: above 50, at most 60
    "wm90": 49.95,  # 91..100 counted as 90
    "WM(10%:90%)": 50.4,  # 1..9 counted as 10, 91..100 as 90
    "tc90": 90.0,
    "TC(10%:90%)": 80.0,
    "ts90": 4095.0,
    "TS(50:60)": 555.0,
    "PR(:50)": 50.0,  # percent of values at most 50
    "PR(10:20)": 10.0,
}


def test_extended_statistics_in_metric_statistics_and_metric_data(cw: Any) -> None:
    """Issue 22, texts: trimmed means (`tm90`) returned nothing without an error. Statistics definitions:
    trimmed mean, winsorized mean, trimmed count and sum, percentile rank, IQM."""
    edge = boundary(60, back=1)
    put_at(cw, edge + 1, [float(v) for v in range(1, 101)], name="Latency")
    window = {
        "StartTime": dt.datetime.fromtimestamp(edge, dt.UTC),
        "EndTime": dt.datetime.fromtimestamp(edge + 60, dt.UTC),
    }
    names = list(EXPECTED_1_TO_100)
    point = cw.get_metric_statistics(
        Namespace="App", MetricName="Latency", Dimensions=DIMS, Period=60, ExtendedStatistics=names, **window
    )["Datapoints"][0]
    assert point["ExtendedStatistics"] == pytest.approx(EXPECTED_1_TO_100)
    query = {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": DIMS}, "Period": 60}
    results = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": f"q{i}", "MetricStat": {**query, "Stat": stat}} for i, stat in enumerate(names)
        ],
        **window,
    )["MetricDataResults"]
    got = {names[int(r["Id"][1:])]: r["Values"][0] for r in results}
    assert got == pytest.approx(EXPECTED_1_TO_100)


@pytest.mark.parametrize(
    "bad", ["tm101", "p101", "TM(10%:90)", "PR(10%:90%)", "TM(90%:10%)", "TM(:)", "bogus", "x" * 5000]
)
def test_a_statistic_that_is_not_one_is_an_error_not_an_empty_answer(cw: Any, bad: str) -> None:
    """Hostile and malformed statistics are refused before any computation, naming what is allowed."""
    window = {
        "StartTime": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        "EndTime": dt.datetime.now(dt.UTC),
    }
    with pytest.raises(ClientError) as stats_error:
        cw.get_metric_statistics(
            Namespace="App",
            MetricName="Latency",
            Dimensions=DIMS,
            Period=60,
            ExtendedStatistics=[bad],
            **window,
        )
    query = {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": DIMS}, "Period": 60}
    with pytest.raises(ClientError) as data_error:
        cw.get_metric_data(MetricDataQueries=[{"Id": "q", "MetricStat": {**query, "Stat": bad}}], **window)
    with pytest.raises(ClientError) as alarm_error:
        make_alarm(cw, Statistic=None, ExtendedStatistic=bad)
    for error in (stats_error, data_error, alarm_error):
        assert error.value.response["Error"]["Code"] == "InvalidParameterValue"
        assert "SampleCount, Sum, Average" in error.value.response["Error"]["Message"] or (
            "boundary" in error.value.response["Error"]["Message"]
            or "percentages" in error.value.response["Error"]["Message"]
        )
        assert len(error.value.response["Error"]["Message"]) < 600


def test_a_trimmed_mean_alarm_is_evaluated(cw: Any) -> None:
    """An alarm on `tm90` ignores the slowest 10%: 1000 ms outliers in 5 of 50 requests leave it OK,
    where the maximum would breach."""
    edge = boundary(60, back=1)
    put_at(cw, edge + 1, [100.0] * 45 + [1000.0] * 5, name="Duration")
    moto_alarm = make_alarm(
        cw, MetricName="Duration", Statistic=None, ExtendedStatistic="tm90", Threshold=500.0
    )
    described = evaluate(cw, moto_alarm, edge + 90)
    assert described["StateValue"] == "OK"
    assert json.loads(described["StateReasonData"])["extendedStatistic"] == "tm90"


# -- the release's alarms on errors in alternate minutes ---------------------------------------------


@pytest.mark.parametrize("stage", ["staging", "prod", "dev"])
def test_a_canary_failing_in_alternate_minutes_is_judged_per_aligned_5_minute_period(
    cw: Any, stage: str
) -> None:
    """Issue 22, done when: a release whose canary produces errors only in alternate minutes is decided
    the same way as AWS's rules decide it. The release rolls back when any alarm of the environment is
    in ALARM (R-REL-4); its Errors alarm is the one provisioned (provisioning/resources/alarms.py: Sum
    of Errors over 5 minutes >= the stage's threshold, 1 of 1, missing data not breaching). The canary
    fails twice in every even minute and succeeds (Errors 0) in every odd one, so a clock-aligned
    5-minute period holds 3 failing minutes (6 errors) when it starts on an even minute and 2 (4 errors)
    otherwise. Evaluated every minute, the alarm is in ALARM exactly when the last 5-minute period that
    ended holds at least the threshold, whatever minute the alarm was created in."""
    # R-REL-4
    errors = next(a for a in ALARMS if a.short == "lambda-errors")
    threshold = errors.threshold(PROFILES[stage])
    start = boundary(600, back=4)  # an even minute that starts a 5-minute period (10-minute aligned)
    for minute in range(40):
        put_at(cw, start + minute * 60 + 20, [1.0, 1.0] if minute % 2 == 0 else [0.0])
    moto_alarm = make_alarm(
        cw, "release-errors", Statistic=errors.statistic, Period=PERIOD,
        EvaluationPeriods=errors.evaluation_periods, DatapointsToAlarm=errors.datapoints,
        Threshold=float(threshold), ComparisonOperator=OPERATOR, TreatMissingData=MISSING_DATA,
    )  # fmt: skip
    seen, expected = [], []
    for minute in range(6, 40):
        now = start + minute * 60 + 45  # evaluated in the middle of every minute
        seen.append(evaluate(cw, moto_alarm, now)["StateValue"])
        last_period = int((now - start) // PERIOD) - 1  # the last 5-minute period that has ended
        failing_minutes = sum(1 for m in range(last_period * 5, last_period * 5 + 5) if m % 2 == 0)
        expected.append("ALARM" if 2 * failing_minutes >= threshold else "OK")
    assert seen == expected
    # staging (5): every other period fires; prod (1): every period; dev (10): never.
    assert {"staging": {"ALARM", "OK"}, "prod": {"ALARM"}, "dev": {"OK"}}[stage] == set(seen)
