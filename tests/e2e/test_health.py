"""Health (R-OPS-3): alarm states plus one light request against the API."""

from __future__ import annotations

import pytest

from localcloud import LocalCloud
from provisioning.aws import AwsTarget
from provisioning.engine import Engine
from provisioning.health import check_health
from provisioning.spec import build_spec

pytestmark = pytest.mark.slow


def test_healthy_then_degraded_by_an_alarm_then_down(local_cloud: LocalCloud, target: AwsTarget) -> None:
    # R-OPS-3
    spec = build_spec(suffix="health1", stage="dev")
    applied = Engine(spec, target).apply()
    assert applied.ok, applied.error
    report = check_health(spec, target)
    assert report.status == "healthy", report.detail
    assert report.probe_status == 200 and report.alarms_in_alarm == []
    assert report.calls.total > 0 and report.calls.mutating == 0  # counted like every run; reads only

    cloudwatch = local_cloud.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="envport-health1-api-5xx", StateValue="ALARM", StateReason="test")
    degraded = check_health(spec, target)
    assert degraded.status == "degraded"
    assert degraded.alarms_in_alarm == ["envport-health1-api-5xx"]
    assert "envport-health1-api-5xx" in degraded.detail
    assert [c.name for c in degraded.checks if not c.passed] == ["alarm envport-health1-api-5xx"]

    # an alarm of another environment whose name shares the prefix is not ours
    other = build_spec(suffix="health1-x", stage="dev")
    assert not set(check_health(other, target).alarms_in_alarm) & {"envport-health1-api-5xx"}

    local_cloud.client("lambda").put_function_concurrency(
        FunctionName=applied.outputs["function_name"], ReservedConcurrentExecutions=0
    )
    down = check_health(spec, target)
    assert down.status == "down"
    assert down.probe_status == 500, down.detail


def test_an_environment_that_was_never_provisioned_is_down(target: AwsTarget) -> None:
    # R-OPS-3
    report = check_health(build_spec(suffix="never1", stage="dev"), target)
    assert report.status == "down"
    assert "not provisioned" in report.detail
    assert report.calls.total > 0 and report.calls.by_operation["cloudwatch.DescribeAlarms"] == 1
