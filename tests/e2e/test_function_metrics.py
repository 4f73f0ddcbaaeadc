"""The function's own metrics: embedded metric format lines become CloudWatch metrics (R-FN-10).

lambda_bundle prints one EMF document per request through Powertools' `Metrics` (namespace
`envport`, dimension `Environment`). CloudWatch Logs extracts the metrics of every valid EMF log
event ("Specification: Embedded metric format",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
the local cloud does the same, so a request through the gateway must show up in
`get_metric_statistics`.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from localcloud import LocalCloud
from provisioning.aws import AwsTarget
from provisioning.engine import Engine
from provisioning.spec import build_spec
from provisioning.verify import verify

pytestmark = pytest.mark.slow


def _sum(cloud: LocalCloud, name: str, environment: str) -> float:
    now = dt.datetime.now(dt.UTC)
    answer = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="envport",
        MetricName=name,
        Dimensions=[{"Name": "Environment", "Value": environment}],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=660,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in answer["Datapoints"])


def test_requests_through_the_gateway_become_emf_metrics(local_cloud: LocalCloud, target: AwsTarget) -> None:
    # R-FN-10
    spec = build_spec(suffix="emf", stage="dev")
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    # The verification journey: one create, one update, one delete, reads, and client errors
    # (invalid JSON, an unknown id) that reach the function.
    report = verify(spec, target, settle_s=2.0)
    assert report.ok, [(c.name, c.expected, c.found) for c in report.failed]

    deadline = time.monotonic() + 15  # the log reader writes the lines shortly after each answer
    while time.monotonic() < deadline and _sum(local_cloud, "ItemsDeleted", "emf") < 1:
        time.sleep(0.2)
    assert _sum(local_cloud, "ItemsCreated", "emf") == 1
    assert _sum(local_cloud, "ItemsUpdated", "emf") == 1
    assert _sum(local_cloud, "ItemsDeleted", "emf") == 1
    assert _sum(local_cloud, "ClientErrors", "emf") >= 2
    assert _sum(local_cloud, "Requests", "emf") >= 7
    assert _sum(local_cloud, "ServerErrors", "emf") == 0
    assert _sum(local_cloud, "Requests", "other-environment") == 0  # the dimension separates them
