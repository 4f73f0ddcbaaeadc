"""Alarm topic, alarms and dashboard (R-OBS-1, R-OBS-2, R-OBS-3): converge, read back, drift, teardown.

The environment's KMS key is created with boto3 here (its resource module is someone else's); the
topic only needs its ARN.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import boto3
import pytest

from provisioning.reconcile import Action, assess, converge, remove
from provisioning.resources.alarms import ALARMS, DYNAMODB_OPERATIONS, Alarms, alarm_name
from provisioning.resources.base import MISSING, PRESENT, Context, FieldDiff
from provisioning.resources.dashboard import Dashboard, body_json, dashboard_body
from provisioning.resources.topic import PENDING, AlarmTopic
from provisioning.spec import build_spec

REGION = "us-east-1"
EXPECTED: dict[str, dict[str, Any]] = {
    # short: namespace, metric, statistic (p90 -> ExtendedStatistic), the settings field of its threshold
    "lambda-errors": dict(ns="AWS/Lambda", metric="Errors", stat="Sum", setting="alarm_lambda_errors"),
    "lambda-throttles": dict(
        ns="AWS/Lambda", metric="Throttles", stat="Sum", setting="alarm_lambda_throttles"
    ),
    "lambda-duration-p90": dict(
        ns="AWS/Lambda", metric="Duration", stat="p90", setting="alarm_lambda_p90_ms"
    ),
    "api-5xx": dict(ns="AWS/ApiGateway", metric="5XXError", stat="Sum", setting="alarm_api_5xx"),
    "api-4xx": dict(ns="AWS/ApiGateway", metric="4XXError", stat="Sum", setting="alarm_api_4xx"),
    "api-latency-p90": dict(ns="AWS/ApiGateway", metric="Latency", stat="p90", setting="alarm_api_p90_ms"),
    "dynamodb-throttles": dict(
        ns="AWS/DynamoDB", metric="ThrottledRequests", stat="Sum", setting="alarm_dynamodb_throttles"
    ),
    "dynamodb-system-errors": dict(
        ns="AWS/DynamoDB", metric="SystemErrors", stat="Sum", setting="alarm_dynamodb_system_errors"
    ),
}
SPEC_ARGS: dict[str, Any] = dict(
    suffix="dev1",
    stage="dev",
    region=REGION,
    owner="team-a",
    cost_centre="cc-42",
    alarm_emails=["ops@example.com"],
)


def resources() -> list[Any]:
    return [AlarmTopic(), Alarms(), Dashboard()]


def converge_all(ctx: Context) -> list[Action]:
    return [converge(resource, ctx).action for resource in resources()]


def with_spec(ctx: Context, **changes: Any) -> Context:
    """The same account and recorder, a changed spec (what a portal edit does)."""
    spec = build_spec(**{**SPEC_ARGS, **changes})
    return Context(spec=spec, aws=ctx.aws, attrs=dict(ctx.attrs), sleep=ctx.sleep)


@pytest.fixture
def env(ctx: Context) -> Context:
    """The environment's KMS key exists (its own resource is converged elsewhere)."""
    key = ctx.client("kms").create_key(Description="env key")["KeyMetadata"]["Arn"]
    ctx.attrs["kms_key"] = {"arn": key}
    assert ctx.account_id  # STS once per run, before any counting
    return ctx


@pytest.fixture
def built(env: Context) -> Context:
    assert converge_all(env) == [Action.CREATE] * 3
    return env


@functools.cache
def cw() -> Any:
    """Plain boto3 clients, not the run's: reading back must not go through the engine's counting.
    Made once per module (client creation dominates the run time); moto intercepts them all."""
    return boto3.client("cloudwatch", region_name=REGION)


@functools.cache
def sns() -> Any:
    return boto3.client("sns", region_name=REGION)


def live_alarms(prefix: str) -> dict[str, dict[str, Any]]:
    pages = cw().get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
    return {a["AlarmName"]: a for page in pages for a in page["MetricAlarms"]}


def emails(topic_arn: str) -> list[str]:
    subs = sns().list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    return sorted(s["Endpoint"] for s in subs if s["Protocol"] == "email")


def test_create_call_counts(env: Context) -> None:
    """How many calls each resource makes on create and on a no-op run (reported, and bounded)."""
    counts = {}
    for resource in resources():
        before = env.aws.recorder.snapshot()
        assert converge(resource, env).action is Action.CREATE
        counts[resource.key] = env.aws.recorder.since(before).by_operation
    assert counts["topic"] == {"sns.GetTopicAttributes": 1, "sns.CreateTopic": 1, "sns.Subscribe": 1}
    assert counts["alarms"] == {"cloudwatch.DescribeAlarms": 1, "cloudwatch.PutMetricAlarm": 8}
    assert counts["dashboard"] == {"cloudwatch.GetDashboard": 1, "cloudwatch.PutDashboard": 1}
    noop = {}
    for resource in resources():
        before = env.aws.recorder.snapshot()
        assert converge(resource, env).action is Action.NOOP
        noop[resource.key] = env.aws.recorder.since(before).by_operation
    assert noop["topic"] == {
        "sns.GetTopicAttributes": 1,
        "sns.ListSubscriptionsByTopic": 1,
        "sns.ListTagsForResource": 1,
    }
    assert noop["alarms"] == {"cloudwatch.DescribeAlarms": 1, "resourcegroupstaggingapi.GetResources": 1}
    assert noop["dashboard"] == {"cloudwatch.GetDashboard": 1}


def test_topic_is_encrypted_tagged_and_subscribed(built: Context) -> None:  # R-OBS-1, R-ENV-3, R-ENV-4
    arn = built.topic_arn
    attributes = sns().get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["KmsMasterKeyId"] == built.attrs["kms_key"]["arn"]
    tags = {t["Key"]: t["Value"] for t in sns().list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags == built.spec.tags
    assert tags["Owner"] == "team-a" and tags["CostCentre"] == "cc-42" and tags["Environment"] == "dev1"
    assert emails(arn) == ["ops@example.com"]
    assert AlarmTopic().outputs(built, built.attrs["topic"]) == {"alarm_topic_arn": arn}


@pytest.mark.heavy
def test_every_alarm_watches_its_metric_and_notifies_the_topic(built: Context) -> None:  # R-OBS-2
    names, settings = built.names, built.spec.settings
    alarms = live_alarms(names.alarm_prefix)
    assert sorted(alarms) == sorted(names.alarm_prefix + short for short in EXPECTED)
    dimensions = {
        "AWS/Lambda": {"FunctionName": names.function},
        "AWS/ApiGateway": {"ApiName": names.rest_api, "Stage": names.api_stage},
    }
    for short, want in EXPECTED.items():
        alarm = alarms[names.alarm_prefix + short]
        assert alarm["Threshold"] == getattr(settings, want["setting"]), short
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", short
        assert alarm["TreatMissingData"] == "notBreaching", short
        assert alarm["AlarmActions"] == [built.topic_arn], short
        assert alarm["OKActions"] == [built.topic_arn], short
        assert alarm["ActionsEnabled"] is True
        assert len(alarm["AlarmDescription"]) > 80  # says what it watches and what to do
        if want["stat"] == "p90":
            assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2), short
        else:
            assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1), short
        if want["ns"] == "AWS/DynamoDB":
            # no TableName-only series exists for these metrics: sum the per-operation series
            queries = {q["Id"]: q for q in alarm["Metrics"]}
            assert queries["total"]["ReturnData"] is True
            assert (
                queries["total"]["Expression"]
                == "SUM([" + ",".join(f"m{i}" for i in range(1, len(DYNAMODB_OPERATIONS) + 1)) + "])"
            )
            stats = [q["MetricStat"] for q in alarm["Metrics"] if q["Id"] != "total"]
            assert all(q["ReturnData"] is False for q in alarm["Metrics"] if q["Id"] != "total")
            assert {s["Metric"]["Namespace"] for s in stats} == {"AWS/DynamoDB"}
            assert {s["Metric"]["MetricName"] for s in stats} == {want["metric"]}
            assert {(s["Stat"], s["Period"]) for s in stats} == {("Sum", 300)}
            assert sorted(
                tuple(sorted((d["Name"], d["Value"]) for d in s["Metric"]["Dimensions"])) for s in stats
            ) == sorted((("Operation", op), ("TableName", names.table)) for op in DYNAMODB_OPERATIONS)
            continue
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Period"]) == (want["ns"], want["metric"], 300)
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions[want["ns"]], short
        if want["stat"] == "p90":
            assert alarm["ExtendedStatistic"] == "p90" and "Statistic" not in alarm, short
        else:
            assert alarm["Statistic"] == "Sum" and "ExtendedStatistic" not in alarm, short
    tags = cw().list_tags_for_resource(ResourceARN=alarms[names.alarm_prefix + "api-5xx"]["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == built.spec.tags  # R-ENV-3


def test_dashboard_shows_this_environments_metrics_and_alarms(built: Context) -> None:  # R-OBS-3
    names = built.names
    found = cw().get_dashboard(DashboardName=names.dashboard)
    body = json.loads(found["DashboardBody"])
    assert found["DashboardBody"] == body_json(built)  # what was sent, canonical
    metrics = [
        (row[0], row[1], dict(zip(row[2:-1:2], row[3:-1:2], strict=True)), row[-1]["stat"])
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
    ]
    fn = {"FunctionName": names.function}
    api = {"ApiName": names.rest_api, "Stage": names.api_stage}
    table = {"TableName": names.table}
    for metric, stat in [
        ("Invocations", "Sum"),
        ("Errors", "Sum"),
        ("Throttles", "Sum"),
        ("Duration", "p50"),
        ("Duration", "p90"),
        ("Duration", "p99"),
        ("ConcurrentExecutions", "Maximum"),
    ]:
        assert ("AWS/Lambda", metric, fn, stat) in metrics, metric
    for metric, stat in [
        ("Count", "Sum"),
        ("4XXError", "Sum"),
        ("5XXError", "Sum"),
        ("Latency", "p90"),
        ("IntegrationLatency", "p90"),
    ]:
        assert ("AWS/ApiGateway", metric, api, stat) in metrics, metric
    for metric in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"):
        assert ("AWS/DynamoDB", metric, table, "Sum") in metrics
    for metric, stat in [
        ("ThrottledRequests", "Sum"),
        ("SystemErrors", "Sum"),
        ("SuccessfulRequestLatency", "Average"),
    ]:
        assert ("AWS/DynamoDB", metric, {**table, "Operation": "GetItem"}, stat) in metrics, metric
    # nothing of another environment
    assert {dims.get("FunctionName", names.function) for *_, dims, _ in metrics} == {names.function}
    assert {dims.get("TableName", names.table) for *_, dims, _ in metrics} == {names.table}
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert alarm_widget["properties"]["alarms"] == sorted(
        f"arn:aws:cloudwatch:{REGION}:{built.account_id}:alarm:{alarm_name(names, a.short)}" for a in ALARMS
    )
    assert {w["properties"].get("region", REGION) for w in body["widgets"]} == {REGION}
    assert Dashboard().outputs(built, built.attrs["dashboard"]) == {
        "dashboard_url": f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
        f"#dashboards:name={names.dashboard}"
    }
    assert built.attrs["dashboard"] == {"name": names.dashboard, "arn": found["DashboardArn"]}


def test_no_dashboard_link_where_aws_console_cannot_open_it(built: Context) -> None:
    """Issue 23: on the local cloud the dashboard link pointed at the real AWS console."""
    from dataclasses import replace

    from provisioning.aws import AwsClients

    local = replace(built.aws.target, endpoint_url="http://127.0.0.1:4566")
    elsewhere = replace(built, aws=AwsClients(local))
    assert Dashboard().outputs(elsewhere, built.attrs["dashboard"]) == {}


def test_dashboard_body_is_deterministic(env: Context) -> None:
    again = with_spec(env)
    assert body_json(env) == body_json(again)
    assert json.loads(body_json(env)) == dashboard_body(env)


def test_second_converge_makes_no_mutating_call(built: Context) -> None:  # R-OPS-1
    before = built.aws.recorder.snapshot()
    assert converge_all(built) == [Action.NOOP] * 3
    assert built.aws.recorder.since(before).mutating == 0


def test_threshold_override_puts_exactly_one_alarm(built: Context) -> None:  # R-ENV-2, R-OBS-2
    changed = with_spec(built, overrides={"alarm_api_5xx": 7})
    outcome, _, _ = assess(Alarms(), changed)
    assert outcome.action is Action.UPDATE
    assert {d.field for d in outcome.diffs} == {"alarm:api-5xx.Threshold", "alarm:api-5xx.AlarmDescription"}
    threshold = next(d for d in outcome.diffs if d.field.endswith("Threshold"))
    assert (threshold.wanted, threshold.found) == (7, 10.0)
    before = built.aws.recorder.snapshot()
    assert converge_all(changed) == [Action.NOOP, Action.UPDATE, Action.NOOP]
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation["cloudwatch.PutMetricAlarm"] == 1
    name = alarm_name(built.names, "api-5xx")
    assert live_alarms(name)[name]["Threshold"] == 7


def test_deleted_alarm_is_one_finding_and_only_it_is_recreated(built: Context) -> None:  # R-OPS-2
    name = alarm_name(built.names, "lambda-errors")
    cw().delete_alarms(AlarmNames=[name])
    outcome, _, _ = assess(Alarms(), built)
    assert outcome.diffs == [FieldDiff("alarms", "alarm:lambda-errors", PRESENT, MISSING)]
    before = built.aws.recorder.snapshot()
    assert converge(Alarms(), built).action is Action.UPDATE
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation["cloudwatch.PutMetricAlarm"] == 1
    arn = live_alarms(name)[name]["AlarmArn"]
    tags = {t["Key"]: t["Value"] for t in cw().list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert tags == built.spec.tags  # tags applied on re-create
    assert assess(Alarms(), built)[0].action is Action.NOOP


def test_tampered_alarm_fields_are_reported_and_repaired(built: Context) -> None:  # R-VER-3, R-OPS-2
    name = alarm_name(built.names, "lambda-duration-p90")
    cw().put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Statistic="Average",
        Dimensions=[{"Name": "FunctionName", "Value": built.names.function}],
        Period=60,
        EvaluationPeriods=1,
        Threshold=99999,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
        AlarmActions=[],
        AlarmDescription="edited by hand",
    )
    cw().untag_resource(ResourceARN=live_alarms(name)[name]["AlarmArn"], TagKeys=["Owner"])
    outcome, _, _ = assess(Alarms(), built)
    found = {d.field: (d.wanted, d.found) for d in outcome.diffs}
    base = "alarm:lambda-duration-p90."
    assert found[base + "Threshold"] == (5000, 99999.0)
    assert found[base + "ExtendedStatistic"] == ("p90", MISSING)
    assert found[base + "Statistic"] == (MISSING, "Average")
    assert found[base + "Period"] == (300, 60)
    assert found[base + "TreatMissingData"] == ("notBreaching", "breaching")
    assert found[base + "ComparisonOperator"] == ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold")
    assert found[base + "AlarmActions"] == ([built.topic_arn], [])
    assert found[base + "EvaluationPeriods"] == (3, 1)
    assert base + "tags" in found
    assert all(field.startswith(base) for field in found)
    before = built.aws.recorder.snapshot()
    converge(Alarms(), built)
    calls = built.aws.recorder.since(before).by_operation
    assert calls["cloudwatch.PutMetricAlarm"] == 1 and calls["cloudwatch.TagResource"] == 1
    assert assess(Alarms(), built)[0].action is Action.NOOP


@pytest.mark.heavy
def test_tag_only_drift_uses_tag_resource_not_put(built: Context) -> None:
    arn = built.arn("cloudwatch", "alarm:" + alarm_name(built.names, "api-4xx"))
    cw().tag_resource(ResourceARN=arn, Tags=[{"Key": "Owner", "Value": "someone-else"}])
    outcome, _, _ = assess(Alarms(), built)
    assert [d.field for d in outcome.diffs] == ["alarm:api-4xx.tags"]
    before = built.aws.recorder.snapshot()
    converge(Alarms(), built)
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation["cloudwatch.TagResource"] == 1


def test_stray_alarm_tag_is_removed(built: Context) -> None:  # R-ENV-3, R-OPS-2
    """A tag nobody asked for is untagged, not left to be reported as drift on every run.

    The repair used to read the live tags under the wrong key, saw none, and so never removed one.
    """
    arn = built.arn("cloudwatch", "alarm:" + alarm_name(built.names, "api-4xx"))
    cw().tag_resource(ResourceARN=arn, Tags=[{"Key": "Stray", "Value": "x"}])
    outcome, _, _ = assess(Alarms(), built)
    assert [d.field for d in outcome.diffs] == ["alarm:api-4xx.tags"]
    before = built.aws.recorder.snapshot()
    converge(Alarms(), built)
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation["cloudwatch.UntagResource"] == 1
    tags = {t["Key"]: t["Value"] for t in cw().list_tags_for_resource(ResourceARN=arn)["Tags"]}
    assert tags == built.spec.tags
    assert assess(Alarms(), built)[0].action is Action.NOOP


def test_extra_alarm_is_drift_but_another_environments_is_not(built: Context) -> None:  # R-OPS-2, R-OPS-4
    ours = built.names.alarm_prefix + "old-alarm"
    theirs = "envport-dev1-x-lambda-errors"  # environment "dev1-x": same prefix, not ours
    for name, env in ((ours, "dev1"), (theirs, "dev1-x")):
        cw().put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            Tags=[{"Key": "Environment", "Value": env}, {"Key": "ManagedBy", "Value": "envport"}],
        )
    outcome, _, _ = assess(Alarms(), built)
    assert outcome.diffs == [FieldDiff("alarms", "alarm:old-alarm", MISSING, PRESENT)]
    before = built.aws.recorder.snapshot()
    converge(Alarms(), built)
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation["cloudwatch.DeleteAlarms"] == 1
    left = live_alarms(built.names.alarm_prefix)
    assert ours not in left and theirs in left


def test_changed_alarm_emails_subscribe_new_and_unsubscribe_old(built: Context) -> None:  # R-OBS-1
    changed = with_spec(built, alarm_emails=["oncall@example.com", "lead@example.com"])
    outcome, _, _ = assess(AlarmTopic(), changed)
    assert sorted((d.field, d.wanted, d.found) for d in outcome.diffs) == [
        ("subscription:lead@example.com", PRESENT, MISSING),
        ("subscription:oncall@example.com", PRESENT, MISSING),
        ("subscription:ops@example.com", MISSING, PRESENT),
    ]
    before = built.aws.recorder.snapshot()
    assert converge(AlarmTopic(), changed).action is Action.UPDATE
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 3
    assert calls.by_operation["sns.Subscribe"] == 2 and calls.by_operation["sns.Unsubscribe"] == 1
    assert emails(built.topic_arn) == ["lead@example.com", "oncall@example.com"]
    assert assess(AlarmTopic(), changed)[0].action is Action.NOOP


def test_pending_confirmation_counts_as_present(built: Context) -> None:
    """moto confirms e-mail subscriptions at once; AWS lists "PendingConfirmation" until the click."""

    def pending(parsed: dict[str, Any], **_: Any) -> None:
        for sub in parsed.get("Subscriptions", []):
            sub["SubscriptionArn"] = PENDING

    built.client("sns").meta.events.register("after-call.sns.ListSubscriptionsByTopic", pending)
    assert assess(AlarmTopic(), built)[0].action is Action.NOOP
    # an address dropped from the spec while still pending: drift, but nothing can unsubscribe it yet
    changed = with_spec(built, alarm_emails=[])
    outcome, _, _ = assess(AlarmTopic(), changed)
    assert outcome.diffs == [FieldDiff("topic", "subscription:ops@example.com", MISSING, PRESENT)]
    before = built.aws.recorder.snapshot()
    converge(AlarmTopic(), changed)
    assert built.aws.recorder.since(before).mutating == 0


def test_tampered_topic_is_reported_and_repaired(built: Context) -> None:  # R-OBS-1, R-ENV-3
    arn = built.topic_arn
    sns().set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue="alias/aws/sns")
    sns().untag_resource(ResourceArn=arn, TagKeys=["CostCentre"])
    sns().tag_resource(ResourceArn=arn, Tags=[{"Key": "Extra", "Value": "x"}])
    outcome, _, _ = assess(AlarmTopic(), built)
    found = {d.field: (d.wanted, d.found) for d in outcome.diffs}
    assert found["KmsMasterKeyId"] == (built.attrs["kms_key"]["arn"], "alias/aws/sns")
    kept = {k: v for k, v in built.spec.tags.items() if k != "CostCentre"}
    assert found["tags"] == (built.spec.tags, {**kept, "Extra": "x"})
    converge(AlarmTopic(), built)
    assert assess(AlarmTopic(), built)[0].action is Action.NOOP


def test_dashboard_drift_is_short_and_readable(built: Context) -> None:  # R-OBS-3, R-OPS-2
    body = dashboard_body(built)
    # same content, other whitespace and key order: compared as parsed JSON, so no drift
    cw().put_dashboard(DashboardName=built.names.dashboard, DashboardBody=json.dumps(body, indent=2))
    assert assess(Dashboard(), built)[0].action is Action.NOOP
    removed = body["widgets"].pop(3)
    body["widgets"][1]["properties"]["title"] = "renamed by hand"
    cw().put_dashboard(DashboardName=built.names.dashboard, DashboardBody=json.dumps(body))
    outcome, _, _ = assess(Dashboard(), built)
    assert outcome.action is Action.UPDATE
    for diff in outcome.diffs:
        assert diff.field.startswith("body.widgets[")
        assert len(str(diff.wanted)) < 120 and len(str(diff.found)) < 120
    assert any(removed["properties"]["title"] in str(d.wanted) for d in outcome.diffs)
    assert any("renamed by hand" in str(d.found) for d in outcome.diffs)
    assert any(d.found == MISSING for d in outcome.diffs)  # one widget fewer
    before = built.aws.recorder.snapshot()
    converge(Dashboard(), built)
    calls = built.aws.recorder.since(before)
    assert calls.mutating == 1 and calls.by_operation["cloudwatch.PutDashboard"] == 1
    assert cw().get_dashboard(DashboardName=built.names.dashboard)["DashboardBody"] == body_json(built)


@pytest.mark.heavy
def test_delete_leaves_nothing_and_is_rerunnable(built: Context) -> None:  # R-OPS-4
    other = "envport-dev1-x-api-5xx"
    cw().put_metric_alarm(
        AlarmName=other,
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    for resource in reversed(resources()):
        assert remove(resource, built).action is Action.DELETE
    assert list(live_alarms(built.names.alarm_prefix)) == [other]  # only the other environment's
    assert built.topic_arn not in [t["TopicArn"] for t in sns().list_topics()["Topics"]]
    assert cw().list_dashboards(DashboardNamePrefix=built.names.dashboard)["DashboardEntries"] == []
    for resource in reversed(resources()):
        assert remove(resource, built).action is Action.NOOP
