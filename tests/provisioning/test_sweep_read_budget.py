"""The read budget of a drift sweep (R-FLEET-2), counted by the engine's call recorder, not timed:
at most 30 reads per environment and at most 4 on API Gateway, with the unused modes' resources
(VPC, subnets, user pool, authorizer, signing secret) costing no read of their own in a sweep:
their absence comes from lists the sweep reads once (`shared_reads.WIDENINGS_OF_ABSENCE`). A
leftover of an unused mode is still found, by the sweep as by a single check."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from localcloud import fidelity
from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.engine import Engine, RunResult
from provisioning.shared_reads import SharedReads
from provisioning.spec import EnvironmentSpec, build_spec

N = 6
READS_PER_ENV = 30
APIGW_PER_ENV = 4
UNUSED = {"authorizer_function", "authorizer_permission", "authorizer_role", "signing_secret"}


def _spec(i: int) -> EnvironmentSpec:
    return build_spec(suffix=f"rb{i}", stage="dev", region="us-east-1", alarm_emails=["ops@example.com"])


@pytest.fixture(scope="module")
def fleet() -> Iterator[list[EnvironmentSpec]]:
    fidelity.apply()
    with mock_aws():
        specs = [_spec(i) for i in range(N)]
        for spec in specs:
            result = Engine(spec, AwsTarget(), sleep=lambda _s: None).apply()
            assert result.ok, result.error
        yield specs


def _apigw(calls: CallCounts) -> int:
    return sum(n for op, n in calls.by_operation.items() if op.startswith("apigateway."))


def _sweep(specs: list[EnvironmentSpec]) -> list[RunResult]:
    shared = SharedReads(f"drift-{uuid.uuid4().hex}")
    return [
        Engine(spec, clients=AwsClients(AwsTarget(), shared=shared), sleep=lambda _s: None).drift()
        for spec in specs
    ]


# R-FLEET-2
@pytest.mark.heavy
def test_a_sweep_stays_within_its_read_budget_and_unused_modes_read_nothing_each(
    fleet: list[EnvironmentSpec],
) -> None:
    swept = _sweep(fleet)
    assert all(r.ok and not r.findings for r in swept), [r.error for r in swept]
    for result in swept[1:]:  # the first also reads the account-wide lists, once for the sweep
        assert result.calls.reads <= READS_PER_ENV, result.calls.by_operation
        assert _apigw(result.calls) <= APIGW_PER_ENV, result.calls.by_operation
        unused = {s.resource: s.calls for s in result.steps if s.unused}
        assert set(unused) >= UNUSED, sorted(unused)
        assert sum(unused.values()) == 0, unused
    # the account-wide lists included, spread over the sweep's environments
    total = sum((r.calls for r in swept), CallCounts())
    assert total.reads / len(swept) <= READS_PER_ENV, total.by_operation
    # each wide list is read once for the whole sweep
    for op in ("lambda.ListFunctions", "secretsmanager.ListSecrets", "iam.GetAccountAuthorizationDetails"):
        assert total.by_operation.get(op, 0) == 1, (op, total.by_operation)
    # a single check still reads each unused resource itself
    single = Engine(fleet[1], AwsTarget(), sleep=lambda _s: None).drift()
    assert single.calls.by_operation.get("secretsmanager.DescribeSecret") == 1
    assert single.calls.by_operation.get("lambda.GetFunction", 0) >= 2


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    return out.getvalue()


# R-FLEET-2
@pytest.mark.heavy
def test_a_leftover_of_an_unused_mode_is_found_by_the_sweep_as_by_a_single_check(
    fleet: list[EnvironmentSpec],
) -> None:
    names = fleet[3].names
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(
        RoleName=names.authorizer_role,
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]
    boto3.client("lambda", region_name="us-east-1").create_function(
        FunctionName=names.authorizer_function,
        Runtime="python3.11",
        Role=role["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
    )
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name=names.signing_secret, SecretString="made by hand")
    try:
        single = Engine(fleet[3], AwsTarget(), sleep=lambda _s: None).drift()
        swept = _sweep(fleet)
        found = {s.resource: s.action for s in swept[3].steps if s.resource in UNUSED}
        assert found == {s.resource: s.action for s in single.steps if s.resource in UNUSED}
        assert {found[k] for k in ("authorizer_function", "authorizer_role", "signing_secret")} == {
            "delete"
        }, found
        assert not {s.resource for s in swept[3].steps if s.unused} & set(found) - {"authorizer_permission"}
        for other in swept[:3] + swept[4:]:  # the others' are still absent, and cost no read
            assert not [s for s in other.steps if s.resource in UNUSED and not s.unused]
    finally:
        boto3.client("lambda", region_name="us-east-1").delete_function(
            FunctionName=names.authorizer_function
        )
        iam.delete_role(RoleName=names.authorizer_role)
        secrets.delete_secret(SecretId=names.signing_secret, ForceDeleteWithoutRecovery=True)
