"""Alarm evaluation in the local cloud (``localcloud/cloudwatch/alarms.py``).

The evaluation rules follow "Using Amazon CloudWatch alarms" (alarm evaluation, M of N:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html) and
"Configuring how CloudWatch alarms treat missing data"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html); the
notification is the JSON CloudWatch publishes to SNS
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html).

The first tests evaluate alarms at a chosen instant against data put at chosen times (moto in
decorator mode, no thread involved); the last ones run the local cloud's own evaluator thread
end to end, through the gateway, with the documented time scale so that they take seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from localcloud_helpers import Kit, build_zip, http
from moto import mock_aws
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID

from localcloud import LocalCloud, fidelity
from localcloud.cloudwatch import alarms

REGION = "us-east-1"
PERIOD = 60
# Half a minute into a minute: periods are clock-aligned, and the one that ended at the last minute
# boundary is the most recent evaluated (``put``'s period 0).
NOW = (time.time() // PERIOD) * PERIOD + PERIOD / 2 - 0.5


@pytest.fixture
def cw() -> Iterator[Any]:
    fidelity.apply()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name=REGION)


def put(cw: Any, values_by_period: dict[int, list[float]], name: str = "Errors") -> None:
    """Values into the ``i``-th period before NOW's (0 = the latest that ended), metric App/<name> by Fn=f."""
    for ago, values in values_by_period.items():
        stamp = dt.datetime.fromtimestamp(NOW - ago * PERIOD - PERIOD / 2, dt.UTC)
        cw.put_metric_data(
            Namespace="App",
            MetricData=[
                {
                    "MetricName": name,
                    "Values": values,
                    "Timestamp": stamp,
                    "Dimensions": [{"Name": "Fn", "Value": "f"}],
                }
            ],
        )


def alarm(cw: Any, name: str = "a", **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "App",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "Fn", "Value": "f"}],
        "Statistic": "Sum",
        "Period": PERIOD,
        "EvaluationPeriods": 1,
        "Threshold": 5.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    args.update(overrides)
    cw.put_metric_alarm(**{k: v for k, v in args.items() if v is not None})
    return cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION].alarms[name]


def state_after(cw: Any, moto_alarm: Any, now: float = NOW) -> str:
    backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION]
    alarms.apply(backend, moto_alarm, alarms.evaluate(backend, moto_alarm, now))
    return str(cw.describe_alarms(AlarmNames=[moto_alarm.name])["MetricAlarms"][0]["StateValue"])


def test_sum_alarm_starts_insufficient_goes_to_alarm_then_ok(cw: Any) -> None:
    # R-REL-3: alarms are evaluated offline, with AWS's state machine and reason
    moto_alarm = alarm(cw)
    assert cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    put(cw, {0: [2, 3]})
    assert state_after(cw, moto_alarm) == "ALARM"
    described = cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
    assert described["StateReason"].startswith("Threshold Crossed: 1 datapoint [5.0 (")
    assert "was greater than or equal to the threshold (5.0)." in described["StateReason"]
    reason_data = json.loads(described["StateReasonData"])
    assert reason_data["recentDatapoints"] == [5.0] and reason_data["statistic"] == "Sum"
    assert reason_data["threshold"] == 5.0 and reason_data["period"] == PERIOD
    # The evaluation range is EvaluationPeriods + 2 periods: one period later the datapoint is still
    # the most recent real one (AWS re-evaluates it), three periods later it has left the range.
    assert state_after(cw, moto_alarm, NOW + PERIOD) == "ALARM"
    assert state_after(cw, moto_alarm, NOW + 3 * PERIOD) == "INSUFFICIENT_DATA"
    put(cw, {-1: [1]})
    assert state_after(cw, moto_alarm, NOW + 3 * PERIOD) == "OK"
    history = cw.describe_alarm_history(AlarmName="a", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        "Alarm updated from INSUFFICIENT_DATA to OK",
        "Alarm updated from ALARM to INSUFFICIENT_DATA",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]


def test_p90_alarm_uses_the_percentile_of_the_raw_values(cw: Any) -> None:
    moto_alarm = alarm(cw, Statistic=None, ExtendedStatistic="p90", Threshold=1000.0, MetricName="Duration")
    # 20 values: p90 (nearest rank 18) is 900; the maximum 5000 alone must not fire it.
    put(cw, {0: [50.0 * i for i in range(1, 20)] + [5000.0]}, name="Duration")
    assert state_after(cw, moto_alarm) == "OK"
    put(cw, {0: [3000.0] * 5}, name="Duration")  # now 25 values, p90 = rank 23 = 3000
    assert state_after(cw, moto_alarm) == "ALARM"
    reason = json.loads(cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]["StateReasonData"])
    assert reason["extendedStatistic"] == "p90" and reason["recentDatapoints"] == [3000.0]


@pytest.mark.parametrize(
    ("breaching_periods", "expected"),
    [
        ({0: [9], 2: [9]}, "ALARM"),
        ({0: [9]}, "OK"),
        ({0: [9], 1: [1], 2: [1]}, "OK"),
        ({1: [9], 2: [9]}, "ALARM"),
    ],
)
def test_m_of_n(cw: Any, breaching_periods: dict[int, list[float]], expected: str) -> None:
    """2 of 3: two breaching datapoints among the last three periods alarm, one does not."""
    moto_alarm = alarm(cw, EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData="notBreaching")
    put(cw, breaching_periods)
    assert state_after(cw, moto_alarm) == expected


@pytest.mark.parametrize(
    ("treatment", "data", "start", "expected"),
    [
        # nothing at all in the evaluation range
        ("missing", {}, "OK", "INSUFFICIENT_DATA"),
        ("notBreaching", {}, "ALARM", "OK"),
        ("breaching", {}, "OK", "ALARM"),
        ("ignore", {}, "ALARM", "ALARM"),
        ("ignore", {}, "OK", "OK"),
        # 1 breaching datapoint of 3 periods, 2 of 3 needed: the missing two decide. "missing" and
        # "ignore" do not consider them, so one breaching datapoint decides nothing: INSUFFICIENT_DATA
        # and the current state (AWS's 2-of-3 table, row "- - - - X"; these two cells expected OK
        # before the evaluation range was modelled).
        ("breaching", {0: [9]}, "OK", "ALARM"),
        ("notBreaching", {0: [9]}, "ALARM", "OK"),
        ("missing", {0: [9]}, "ALARM", "INSUFFICIENT_DATA"),
        ("ignore", {0: [9]}, "ALARM", "ALARM"),
    ],
)
def test_treat_missing_data(cw: Any, treatment: str, data: dict, start: str, expected: str) -> None:
    moto_alarm = alarm(cw, EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData=treatment)
    cw.set_alarm_state(AlarmName="a", StateValue=start, StateReason="test start")
    put(cw, data)
    assert state_after(cw, moto_alarm) == expected


def test_dynamodb_alarms_always_ignore_missing_data(cw: Any) -> None:
    """PutMetricAlarm reference, TreatMissingData: "Alarms that evaluate metrics in the AWS/DynamoDB
    namespace always ignore missing data even if you choose a different option"."""
    moto_alarm = alarm(cw, Namespace="AWS/DynamoDB", TreatMissingData="notBreaching")
    cw.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="test start")
    assert state_after(cw, moto_alarm) == "ALARM"


def test_metric_math_alarm_sums_its_metrics(cw: Any) -> None:
    def stat(index: int) -> dict[str, Any]:
        return {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "App",
                    "MetricName": f"E{index}",
                    "Dimensions": [{"Name": "Fn", "Value": "f"}],
                },
                "Period": PERIOD,
                "Stat": "Sum",
            },
            "ReturnData": False,
        }

    queries = [{"Id": "total", "Expression": "SUM([m1, m2])", "ReturnData": True}, stat(1), stat(2)]
    moto_alarm = alarm(
        cw, Namespace=None, MetricName=None, Dimensions=None, Statistic=None, Period=None, Metrics=queries
    )
    put(cw, {0: [3]}, name="E1")
    assert state_after(cw, moto_alarm) == "OK"
    put(cw, {0: [2]}, name="E2")
    assert state_after(cw, moto_alarm) == "ALARM"

    unsupported = alarm(
        cw, "b", Namespace=None, MetricName=None, Dimensions=None, Statistic=None, Period=None,
        Metrics=[{"Id": "x", "Expression": "ANOMALY_DETECTION_BAND(m1)", "ReturnData": True}, stat(1)],
    )  # fmt: skip
    assert state_after(cw, unsupported) == "INSUFFICIENT_DATA"  # left alone, never a crash


def test_notification_is_published_to_sns_and_recorded(cw: Any) -> None:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    queue = sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    alarms.clear_notifications()
    moto_alarm = alarm(cw, AlarmActions=[topic], OKActions=[topic], AlarmDescription="errors")
    put(cw, {0: [7]})
    assert state_after(cw, moto_alarm) == "ALARM"

    body = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert body["Subject"] == 'ALARM: "a" in US East (N. Virginia)'
    message = json.loads(body["Message"])
    assert message["AlarmName"] == "a" and message["AlarmDescription"] == "errors"
    assert (message["OldStateValue"], message["NewStateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert message["AWSAccountId"] == DEFAULT_ACCOUNT_ID and message["AlarmActions"] == [topic]
    assert message["Trigger"]["MetricName"] == "Errors" and message["Trigger"]["Statistic"] == "SUM"
    assert message["Trigger"]["Dimensions"] == [{"value": "f", "name": "Fn"}]
    recorded = alarms.notifications("a")
    assert [(n["action"], n["new_state"], n["delivered"]) for n in recorded] == [(topic, "ALARM", True)]
    assert recorded[0]["message"] == message

    # SetAlarmState runs the actions of the new state too (fidelity fix, AWS's SetAlarmState).
    cw.set_alarm_state(AlarmName="a", StateValue="OK", StateReason="operator")
    assert [n["new_state"] for n in alarms.notifications("a")] == ["ALARM", "OK"]
    actions = cw.describe_alarm_history(AlarmName="a", HistoryItemType="Action")["AlarmHistoryItems"]
    assert len(actions) == 2 and all("Successfully executed action" in a["HistorySummary"] for a in actions)


def test_time_scale_setting_is_validated() -> None:
    assert alarms.parse_time_scale("0.05") == 0.05
    for bad in ("0", "-1", "2", "fast", ""):
        with pytest.raises(ValueError, match="greater than 0 and at most 1"):
            alarms.parse_time_scale(bad)


# -- the evaluator thread, end to end through the gateway ---------------------------------------------

FLAKY_SOURCE = """
import json, time

def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("fail"):
        raise RuntimeError("failing on purpose")
    time.sleep(float(query.get("sleep", 0)))
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
"""
SCALE = 0.05  # a 60 s period lasts 3 s; alarms are evaluated every 3 s


@pytest.fixture(scope="module")
def fast_alarms(cloud: LocalCloud) -> Iterator[LocalCloud]:
    previous = cloud.alarm_time_scale
    cloud.alarm_time_scale = SCALE
    try:
        yield cloud
    finally:
        cloud.alarm_time_scale = previous


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.time() + timeout
    while True:
        value = check()
        if value or time.time() > deadline:
            return value
        time.sleep(0.1)


@pytest.mark.slow
def test_evaluator_fires_and_clears_errors_and_p90_alarms_through_the_gateway(
    fast_alarms: LocalCloud,
) -> None:
    # R-REL-3 R-OPS-3: the Errors and p90 alarms go to ALARM on real traffic and back to OK, offline
    kit = Kit(fast_alarms)
    fn = kit.function("app.handler", code=build_zip(FLAKY_SOURCE), timeout=10)
    api = kit.api("alarmed")
    api.proxy("/x", "GET", fn["FunctionArn"])
    api.deploy()
    cw, sns, sqs = kit.client("cloudwatch"), kit.client("sns"), kit.client("sqs")
    topic = sns.create_topic(Name=f"alarms-{kit.suffix}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"inbox-{kit.suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    name = fn["FunctionName"]
    common = {
        "Namespace": "AWS/Lambda",
        "Dimensions": [{"Name": "FunctionName", "Value": name}],
        "Period": 60,
        "EvaluationPeriods": 2,  # 1 of 2: traffic split over two periods still fires
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic],
        "OKActions": [topic],
    }
    errors, slow = f"{name}-errors", f"{name}-p90"
    cw.put_metric_alarm(AlarmName=errors, MetricName="Errors", Statistic="Sum", Threshold=2, **common)
    cw.put_metric_alarm(
        AlarmName=slow, MetricName="Duration", ExtendedStatistic="p90", Threshold=300, **common
    )

    def states() -> dict[str, str]:
        described = cw.describe_alarms(AlarmNames=[errors, slow])["MetricAlarms"]
        return {a["AlarmName"]: a["StateValue"] for a in described}

    assert states() == {errors: "INSUFFICIENT_DATA", slow: "INSUFFICIENT_DATA"}
    assert wait_for(lambda: states() == {errors: "OK", slow: "OK"})  # quiet: missing is notBreaching

    for _ in range(3):
        assert http(api.url("/x?fail=1")).status == 502
    for _ in range(2):
        assert http(api.url("/x?sleep=0.4")).status == 200
    assert wait_for(lambda: states() == {errors: "ALARM", slow: "ALARM"}), states()
    # The data ages out of the evaluation range (2 + 2 periods of 3 s, evaluated once they end).
    assert wait_for(lambda: states() == {errors: "OK", slow: "OK"}, timeout=45), states()

    # A state is visible before its notification is recorded (the topic is published to first, as
    # AWS runs actions after the change): wait for the second OK of each alarm to be recorded.
    def sent_to_topic() -> list[tuple[str, str]]:
        recorded = fast_alarms.notifications()
        return [(n["alarm_name"], n["new_state"]) for n in recorded if n["action"] == topic]

    assert wait_for(lambda: len(sent_to_topic()) >= 6), sent_to_topic()
    sent = sent_to_topic()
    assert sent.count((errors, "ALARM")) == 1 and sent.count((slow, "ALARM")) == 1
    endpoint = http(f"{fast_alarms.endpoint_url}/_localcloud/notifications?alarm={errors}").json()
    assert [n["new_state"] for n in endpoint["notifications"]] == ["OK", "ALARM", "OK"]
    received = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        received += [json.loads(json.loads(m["Body"])["Message"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    assert sorted((m["AlarmName"], m["NewStateValue"]) for m in received) == sorted(sent)
