"""A function's logs and EMF metrics depend on what its execution role allows, as on Lambda.

https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html ("Prerequisites"): the
execution role needs ``logs:CreateLogGroup``, ``logs:CreateLogStream`` and ``logs:PutLogEvents``
(AWSLambdaBasicExecutionRole) for Lambda to send the function's logs; Lambda creates the group
``/aws/lambda/NAME`` when it does not exist. The embedded metric format
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
turns log events into metrics when CloudWatch Logs ingests them: no event written, no metric.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from localcloud_helpers import LOG_WRITER_STATEMENT, Kit, build_zip

from localcloud import LocalCloud

pytestmark = pytest.mark.slow  # every test runs a function in a worker process

EMF_SOURCE = """
import json, os, time

def handler(event, context):
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": os.environ["NAMESPACE"], "Dimensions": [["Service"]],
            "Metrics": [{"Name": "ItemsSold", "Unit": "Count"}]}]},
        "Service": "cart", "ItemsSold": 3}))
    print("an ordinary line")
    return {"ok": True}
"""


def _sold(cloud: LocalCloud, namespace: str) -> float:
    now = dt.datetime.now(dt.UTC)
    answer = cloud.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="ItemsSold",
        Dimensions=[{"Name": "Service", "Value": "cart"}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=660,
        Statistics=["Sum"],
    )
    return float(sum(p["Sum"] for p in answer["Datapoints"]))


def _run(kit: Kit, statements: list[dict[str, Any]], *, group_exists: bool) -> tuple[str, str]:
    """Invoke an EMF-printing function whose role has ``statements``; (log group, metric namespace)."""
    namespace = f"Shop-{uuid.uuid4().hex[:8]}"
    fn = kit.function(
        "app.handler",
        code=build_zip(EMF_SOURCE),
        permission=False,
        env={"NAMESPACE": namespace},
        role=kit.role(statements),
    )
    group = f"/aws/lambda/{fn['FunctionName']}"
    if group_exists:
        kit.client("logs").create_log_group(logGroupName=group)
    answer = kit.client("lambda").invoke(FunctionName=fn["FunctionName"], Payload=b"{}")
    assert "FunctionError" not in answer
    time.sleep(0.5)  # the log reader thread handles the lines shortly after the answer
    return group, namespace


def _groups(kit: Kit, group: str) -> list[str]:
    found = kit.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return [g["logGroupName"] for g in found]


def _messages(kit: Kit, group: str) -> list[str]:
    return [e["message"] for e in kit.client("logs").filter_log_events(logGroupName=group)["events"]]


def _wait_for_sold(cloud: LocalCloud, namespace: str, expected: float) -> float:
    deadline = time.time() + 10
    while time.time() < deadline and _sold(cloud, namespace) < expected:
        time.sleep(0.1)
    return _sold(cloud, namespace)


def test_with_log_permissions_and_no_group_lambda_creates_it(cloud, kit):
    """Issue 22 case: with the role's log permissions and no group, no logs and no metric. Lambda
    creates the group, writes the lines and the EMF line becomes a metric."""
    group, namespace = _run(kit, [LOG_WRITER_STATEMENT], group_exists=False)

    assert _groups(kit, group) == [group]
    assert "an ordinary line" in _messages(kit, group)
    assert _wait_for_sold(cloud, namespace, 3) == 3


def test_without_log_permissions_nothing_is_written_and_no_metric(cloud, kit):
    """Issue 22 case: a role without log permissions, with the group there, still produced an EMF metric.
    Nothing is written to the group (no stream) and no metric appears."""
    group, namespace = _run(kit, [], group_exists=True)

    assert kit.client("logs").describe_log_streams(logGroupName=group)["logStreams"] == []
    assert _sold(cloud, namespace) == 0


def test_write_permissions_without_create_log_group_need_the_group(cloud, kit):
    """A role that may write streams but not create groups (the portal's: it pre-creates the group)
    writes nothing when the group is missing, and everything once it exists."""
    writer = {
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/*:*",
    }
    missing, namespace = _run(kit, [writer], group_exists=False)
    assert _groups(kit, missing) == []
    assert _sold(cloud, namespace) == 0

    present, namespace = _run(kit, [writer], group_exists=True)
    assert "an ordinary line" in _messages(kit, present)
    assert _wait_for_sold(cloud, namespace, 3) == 3


def test_create_log_group_alone_creates_the_group_and_writes_nothing(cloud, kit):
    """logs:CreateLogGroup without CreateLogStream/PutLogEvents: the group is created, empty."""
    create_only = {"Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": "*"}
    group, namespace = _run(kit, [create_only], group_exists=False)

    assert _groups(kit, group) == [group]
    assert kit.client("logs").describe_log_streams(logGroupName=group)["logStreams"] == []
    assert _sold(cloud, namespace) == 0
