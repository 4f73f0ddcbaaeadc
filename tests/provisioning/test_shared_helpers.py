"""The helpers every resource and every report share: call sums, tag repair, ownership, kinds."""

from __future__ import annotations

import re

import pytest

from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.health import HealthReport
from provisioning.names import MANAGED_BY
from provisioning.resources import resources_for
from provisioning.resources.base import MISSING, Context, is_ours, repair_tags, tag_changes
from provisioning.spec import EnvironmentSpec, build_spec


# --- CallCounts: one typed sum ----------------------------------------------------------------
def test_call_counts_add_totals_and_merge_operations() -> None:
    apply = CallCounts(5, 2, {"dynamodb.CreateTable": 1, "dynamodb.DescribeTable": 4})
    verify = CallCounts(3, 0, {"dynamodb.DescribeTable": 2, "apigateway.GetApiKey": 1})
    total = apply + verify
    assert (total.total, total.mutating, total.reads) == (8, 2, 6)
    assert total.by_operation == {
        "apigateway.GetApiKey": 1,
        "dynamodb.CreateTable": 1,
        "dynamodb.DescribeTable": 6,
    }
    assert apply.by_operation["dynamodb.DescribeTable"] == 4  # operands are left alone


def test_no_calls_is_the_identity_of_the_sum() -> None:
    counts = CallCounts(2, 1, {"sqs.CreateQueue": 1, "sqs.GetQueueUrl": 1})
    assert CallCounts() + counts == counts == counts + CallCounts()
    assert sum([counts, counts], CallCounts()) == CallCounts(
        4, 2, {"sqs.CreateQueue": 2, "sqs.GetQueueUrl": 2}
    )


# --- tag repair: one helper, one argument order -------------------------------------------------
def test_tag_changes_adds_changes_and_removes() -> None:
    found = {"Environment": "dev1", "Owner": "team-b", "Stray": "x"}
    wanted = {"Environment": "dev1", "Owner": "team-a", "CostCentre": "cc-42"}
    changes = tag_changes(found, wanted)
    assert changes.to_set == {"CostCentre": "cc-42", "Owner": "team-a"}  # new and changed only
    assert changes.to_remove == ["Stray"]


def test_tag_repair_never_touches_aws_tags() -> None:
    found = {"aws:cloudformation:stack-name": "s", "Owner": "team-a"}
    wanted = {"Owner": "team-a", "aws:createdBy": "someone"}
    assert tag_changes(found, wanted).to_set == {} and tag_changes(found, wanted).to_remove == []


def test_repair_tags_untags_then_tags_and_calls_nothing_when_equal() -> None:
    calls: list[tuple[str, object]] = []

    def tag(tags: dict[str, str]) -> None:
        calls.append(("tag", tags))

    def untag(keys: list[str]) -> None:
        calls.append(("untag", keys))

    repair_tags({"A": "1", "B": "2"}, {"A": "9", "C": "3"}, tag=tag, untag=untag)
    assert calls == [("untag", ["B"]), ("tag", {"A": "9", "C": "3"})]
    calls.clear()
    repair_tags({"A": "1"}, {"A": "1"}, tag=tag, untag=untag)
    assert calls == []


def test_repair_tags_treats_a_missing_tag_field_as_no_tags() -> None:
    tagged: list[dict[str, str]] = []
    repair_tags(MISSING, {"A": "1"}, tag=tagged.append, untag=lambda keys: None)  # type: ignore[arg-type]
    assert tagged == [{"A": "1"}]


# --- one "is this ours?" ---------------------------------------------------------------------------
@pytest.fixture
def plain_ctx() -> Context:
    spec = build_spec(suffix="dev1", stage="dev")
    return Context(spec=spec, aws=AwsClients(AwsTarget()))


@pytest.mark.parametrize(
    ("tags", "ours"),
    [
        ({"Environment": "dev1", "ManagedBy": MANAGED_BY}, True),
        ({"Environment": "dev1", "ManagedBy": MANAGED_BY, "aws:x": "y"}, True),
        ({"Environment": "dev1-x", "ManagedBy": MANAGED_BY}, False),  # a namesake prefix
        ({"Environment": "dev1"}, False),  # someone else's namesake
        (None, False),
    ],
)
def test_is_ours_needs_environment_and_managed_by(
    plain_ctx: Context, tags: dict[str, str] | None, ours: bool
) -> None:
    assert is_ours(plain_ctx, tags) is ours


def test_every_resource_carries_the_managed_by_tag_that_is_ours_checks(plain_ctx: Context) -> None:
    assert is_ours(plain_ctx, plain_ctx.spec.tags)


# --- kinds -----------------------------------------------------------------------------------------
def test_every_kind_is_service_dash_resource() -> None:
    """One convention: the boto3 service name, then the resource, in kebab case."""
    spec: EnvironmentSpec = build_spec(suffix="dev1", stage="dev")
    services = {"apigateway", "cloudwatch", "dynamodb", "iam", "kms", "lambda", "logs", "s3", "sns", "sqs"}
    services |= {"secretsmanager", "cognito-idp"}  # R-AUTH-1's token and cognito modes
    services |= {"ec2"}  # R-NET-1's network, in every mode (public mode: not wanted)
    for resource in resources_for(spec):
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", resource.kind), resource.kind
        assert any(resource.kind.startswith(service + "-") for service in services), resource.kind


# --- health's checks, in verification's shape -------------------------------------------------
def test_health_report_checks_are_the_probe_and_each_firing_alarm() -> None:
    report = HealthReport("dev1", "degraded", ["envport-dev1-api-5xx"], 200, 12.5, "alarms firing")
    probe, alarm = report.checks
    assert (probe.name, probe.passed, probe.status, probe.latency_ms, probe.found) == (
        "API probe",
        True,
        200,
        12.5,
        "200",
    )
    assert (alarm.name, alarm.passed, alarm.expected, alarm.found) == (
        "alarm envport-dev1-api-5xx",
        False,
        "OK",
        "ALARM",
    )
    unanswered = HealthReport("dev1", "down").checks
    assert [(c.passed, c.found) for c in unanswered] == [(False, "no answer")]
    assert report.calls == CallCounts()
