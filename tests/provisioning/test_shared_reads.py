"""A sweep reads account-wide lists once per account and region and shares them (R-FLEET-2):
at most 30 reads per environment, at most 4 on API Gateway, and the same findings as each
environment's own drift check."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from localcloud import fidelity
from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.engine import Engine, RunResult
from provisioning.resources.base import PRESENT
from provisioning.shared_reads import ACCOUNT_WIDE, RedisReadStore, SharedReads
from provisioning.spec import EnvironmentSpec, build_spec

REDIS_URL = os.environ.get("ENVPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
N = 5
# GetResources, GetStage, GetGatewayResponses and GetUsagePlanKeys: one each per REST API, none of
# them answerable from an account-wide list. GetAuthorizers only where an authorizer can matter
# (RestApi._reads_authorizers): not in these api_key environments.
APIGW_PER_ENV = 4


def _spec(i: int) -> EnvironmentSpec:
    return build_spec(
        suffix=f"sw{i}",
        stage="dev",
        region="us-east-1",
        owner="team-a",
        cost_centre="cc-1",
        alarm_emails=["ops@example.com"],
    )


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


def _sweep(specs: list[EnvironmentSpec], shared: SharedReads) -> list[RunResult]:
    return [
        Engine(spec, clients=AwsClients(AwsTarget(), shared=shared), sleep=lambda _s: None).drift()
        for spec in specs
    ]


# R-FLEET-2
@pytest.mark.heavy
def test_a_sweep_reads_account_wide_lists_once_and_finds_what_single_checks_find(
    fleet: list[EnvironmentSpec],
) -> None:
    logs = boto3.client("logs", region_name="us-east-1")
    logs.put_retention_policy(logGroupName=fleet[2].names.function_log_group, retentionInDays=1)
    alone = [Engine(spec, AwsTarget(), sleep=lambda _s: None).drift() for spec in fleet]
    swept = _sweep(fleet, SharedReads(f"drift-{uuid.uuid4().hex}"))
    for single, shared in zip(alone, swept, strict=True):
        assert shared.ok == single.ok
        assert [d.to_dict() for d in shared.findings] == [d.to_dict() for d in single.findings]
    assert [bool(r.findings) for r in swept] == [False, False, True, False, False]
    # the single check reads everything itself, as before
    assert alone[1].calls.reads > 45 and _apigw(alone[1].calls) >= 8
    total = sum((r.calls for r in swept), CallCounts())
    once = {"apigateway.GetApiKeys", "logs.DescribeLogGroups", "cloudwatch.DescribeAlarms"}
    once |= {"ec2.DescribeTags"}  # network.network_leftovers: these are public environments
    for op in ACCOUNT_WIDE | once:
        assert total.by_operation.get(op, 0) <= 1, op  # once for the whole sweep
    for result in swept[1:]:  # every environment after the first, which fetched the lists
        assert result.calls.reads <= 30, result.calls.by_operation
        assert _apigw(result.calls) <= APIGW_PER_ENV, result.calls.by_operation
    per_env = total.reads / len(swept)
    print(
        f"sweep of {N}: {per_env:.1f} reads per environment, first {swept[0].calls.reads}, "
        f"then {swept[1].calls.reads} ({_apigw(swept[1].calls)} on API Gateway)"
    )
    logs.put_retention_policy(logGroupName=fleet[2].names.function_log_group, retentionInDays=7)


# R-FLEET-2
@pytest.mark.heavy
def test_workers_share_a_sweeps_reads_through_redis(fleet: list[EnvironmentSpec]) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    sweep = f"drift-{uuid.uuid4().hex}"
    prefix = f"test:{uuid.uuid4().hex}:"
    first = _sweep(fleet[:2], SharedReads(sweep, RedisReadStore(client, prefix)))
    # another worker process of the same sweep: its own SharedReads, the same Redis
    second = _sweep(fleet[2:], SharedReads(sweep, RedisReadStore(client, prefix)))
    assert all(r.ok for r in first + second)
    for result in second:
        assert result.calls.reads <= 30 and _apigw(result.calls) <= APIGW_PER_ENV, result.calls.by_operation
        assert not set(result.calls.by_operation) & ACCOUNT_WIDE
    # a list another process is fetching right now is waited for, not fetched again
    store = RedisReadStore(client, prefix)
    assert store.claim("list", 5) and not store.claim("list", 5)
    # another sweep reads afresh
    fresh = _sweep(fleet[:1], SharedReads(f"drift-{uuid.uuid4().hex}", RedisReadStore(client, prefix)))
    assert fresh[0].calls.by_operation.get("apigateway.GetRestApis") == 1


def _authorizer_findings(result: RunResult) -> list[tuple[str, object]]:
    return [(d.field, d.found) for d in result.findings if "authorizer" in d.field]


# R-FLEET-2, R-AUTH-1
@pytest.mark.heavy
def test_a_sweep_reads_authorizers_only_where_one_can_matter(fleet: list[EnvironmentSpec]) -> None:
    """An api_key environment's sweep check skips GetAuthorizers unless a method names one or the
    stage does not serve the wanted definition (a mode switch stopped half-way); a hand-made
    authorizer that nothing uses is left to the single check, which always reads them."""
    spec = fleet[3]
    apigw = boto3.client("apigateway", region_name="us-east-1")
    api_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == spec.names.rest_api)
    function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{spec.names.function}"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    made = apigw.create_authorizer(
        restApiId=api_id,
        name="handmade",
        type="TOKEN",
        authorizerUri=uri,
        identitySource="method.request.header.Authorization",
    )

    def sweep() -> RunResult:
        return _sweep([spec], SharedReads(f"drift-{uuid.uuid4().hex}"))[0]

    def single() -> RunResult:
        return Engine(spec, AwsTarget(), sleep=lambda _s: None).drift()

    # unused: the API behaves as wanted; the sweep does not look, a single check finds it
    unused = sweep()
    assert "apigateway.GetAuthorizers" not in unused.calls.by_operation and unused.findings == []
    assert _authorizer_findings(single()) == [("authorizer:handmade", PRESENT)]

    # a method names it: the sweep reads the authorizers and reports both
    items = next(r for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/items")
    apigw.update_method(
        restApiId=api_id,
        resourceId=items["id"],
        httpMethod="GET",
        patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
            {"op": "replace", "path": "/authorizerId", "value": made["id"]},
        ],
    )
    named = sweep()
    assert named.calls.by_operation["apigateway.GetAuthorizers"] == 1
    assert ("method:GET /items.authorizer", "handmade") in _authorizer_findings(named)
    assert ("authorizer:handmade", PRESENT) in _authorizer_findings(named)

    # a switch stopped after the methods let go and before the deployment: the stage's digest
    # differs from the wanted definition's, so the sweep reads them and finds the leftover
    apigw.update_method(
        restApiId=api_id,
        resourceId=items["id"],
        httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/authorizationType", "value": "NONE"}],
    )
    apigw.update_stage(
        restApiId=api_id,
        stageName=spec.names.api_stage,
        patchOperations=[{"op": "replace", "path": "/description", "value": "envport definition 0123"}],
    )
    interrupted = sweep()
    assert interrupted.calls.by_operation["apigateway.GetAuthorizers"] == 1
    assert ("authorizer:handmade", PRESENT) in _authorizer_findings(interrupted)

    assert Engine(spec, AwsTarget(), sleep=lambda _s: None).apply().ok
    assert apigw.get_authorizers(restApiId=api_id)["items"] == []
    repaired = sweep()
    assert repaired.findings == [] and "apigateway.GetAuthorizers" not in repaired.calls.by_operation
