"""vpc mode end to end (issue 11, parts 2 and 3): provisioned into the local cloud, verified, broken
the two ways the seeds break it (an endpoint policy without ``dynamodb:Query``, a route table
without the endpoint), found by drift, repaired by apply, and torn down to nothing, leaving an
adopted VPC alone.

One environment is shared by the module (provisioning is the slow part); the function's timeout is
5 s so that each call the VPC cannot carry fails in seconds, as a timeout (502), as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud import LocalCloud
from provisioning.aws import AwsTarget
from provisioning.engine import Engine
from provisioning.spec import EnvironmentSpec, build_spec
from provisioning.verify import verify

pytestmark = pytest.mark.slow

TIMEOUT_S = 5  # short, so a call the VPC cannot carry fails fast; room for a cold start under load


@pytest.fixture(scope="module")
def env(local_cloud: LocalCloud, target: AwsTarget) -> Iterator[tuple[EnvironmentSpec, dict[str, Any]]]:
    spec = build_spec(suffix="vpc-e2e", stage="dev", overrides={"network": "vpc", "timeout_s": TIMEOUT_S})
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    yield spec, result.outputs
    Engine(spec, target).destroy(eni_poll_s=0.5)  # the teardown test has done it already when it passed


def _failed(report: Any) -> dict[str, Any]:
    return {c.name: c for c in report.failed}


def test_vpc_mode_provisions_and_verifies(env: Any, target: AwsTarget) -> None:
    # R-NET-1, R-NET-2
    spec, outputs = env
    assert {"vpc_id", "subnet_ids", "security_group_id", "dynamodb_endpoint_id"} <= set(outputs)
    report = verify(spec, target, settle_s=2.0)
    assert report.ok, [(c.name, c.found) for c in report.failed]


def test_an_endpoint_policy_without_query_times_out_the_list_and_drift_repairs_it(
    env: Any, local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-NET-2
    spec, outputs = env
    ec2 = local_cloud.client("ec2")
    endpoint = outputs["dynamodb_endpoint_id"]
    policy = json.loads(
        ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"][0]["PolicyDocument"]
    )
    policy["Statement"] = [s for s in policy["Statement"] if "dynamodb:Query" not in s["Action"]]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, PolicyDocument=json.dumps(policy))

    broken = verify(spec, target, settle_s=0.0)
    failed = _failed(broken)
    assert "list items" in failed, [(c.name, c.found) for c in broken.checks]
    assert "HTTP 502" in str(failed["list items"].found)  # the function timed out
    assert "create item" not in failed and "read item" not in failed  # GetItem/PutItem still pass
    assert "live config: dynamodb_endpoint" in failed

    drift = Engine(spec, target).drift()
    assert [(f.resource, f.field) for f in drift.findings] == [
        ("dynamodb_endpoint", "policy.Statement[ListItemsNewestFirstViaCreatedAtIndex]")
    ]
    assert Engine(spec, target).apply().ok
    assert Engine(spec, target).drift().findings == []
    restored = verify(spec, target, settle_s=0.0)
    assert restored.ok, [(c.name, c.found) for c in restored.failed]


def test_a_route_table_without_the_endpoint_fails_the_checks_until_apply_puts_it_back(
    env: Any, local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-NET-2
    spec, outputs = env
    ec2 = local_cloud.client("ec2")
    ec2.modify_vpc_endpoint(
        VpcEndpointId=outputs["dynamodb_endpoint_id"], RemoveRouteTableIds=outputs["route_table_ids"]
    )
    broken = verify(spec, target, settle_s=0.0)
    failed = _failed(broken)
    assert "create item" in failed and "HTTP 502" in str(failed["create item"].found)
    assert "unknown id" in failed  # every DynamoDB call times out
    assert "no api key" not in failed  # the gateway's own answers do not need the VPC

    drift = Engine(spec, target).drift()
    assert [(f.resource, f.field) for f in drift.findings] == [("dynamodb_endpoint", "RouteTableIds")]
    assert Engine(spec, target).apply().ok
    restored = verify(spec, target, settle_s=0.0)
    assert restored.ok, [(c.name, c.found) for c in restored.failed]


def _left(local_cloud: LocalCloud, vpc: str) -> dict[str, int]:
    ec2 = local_cloud.client("ec2")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    return {
        "enis": len(ec2.describe_network_interfaces(Filters=by_vpc)["NetworkInterfaces"]),
        "subnets": len(ec2.describe_subnets(Filters=by_vpc)["Subnets"]),
        "groups": len(
            [
                g
                for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]
                if g["GroupName"] != "default"
            ]
        ),
        "route tables": len(
            [
                t
                for t in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
                if not any(a.get("Main") for a in t["Associations"])
            ]
        ),
        "endpoints": len(
            [
                e
                for e in ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]
                if e["State"].lower() != "deleted"
            ]
        ),
        "vpcs": len(ec2.describe_vpcs(Filters=by_vpc)["Vpcs"]),
    }


def test_teardown_leaves_nothing(env: Any, local_cloud: LocalCloud, target: AwsTarget) -> None:
    # R-NET-4
    spec, outputs = env
    vpc = outputs["vpc_id"]
    assert _left(local_cloud, vpc)["enis"] == 2  # one Hyperplane ENI per subnet
    result = Engine(spec, target).destroy(eni_poll_s=0.5)
    assert result.ok, result.error
    assert result.notes["eni_release"]
    assert _left(local_cloud, vpc) == dict.fromkeys(_left(local_cloud, vpc), 0)


def test_an_adopted_vpc_serves_the_function_and_is_left_alone(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-NET-4
    ec2 = local_cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.77.0.0/24", "us-east-1a"), ("10.77.1.0/24", "us-east-1b"))
    ]
    spec = build_spec(
        suffix="vpc-adopt",
        stage="dev",
        overrides={"network": "vpc", "vpc_id": vpc, "subnet_ids": ",".join(subnets), "timeout_s": TIMEOUT_S},
    )
    applied = Engine(spec, target).apply()
    assert applied.ok, applied.error
    report = verify(spec, target, settle_s=2.0)
    assert report.ok, [(c.name, c.found) for c in report.failed]

    destroyed = Engine(spec, target).destroy(eni_poll_s=0.5)
    assert destroyed.ok, destroyed.error
    left = _left(local_cloud, vpc)
    assert left == {"enis": 0, "subnets": 2, "groups": 0, "route tables": 0, "endpoints": 0, "vpcs": 1}
    assert ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "RouteTables"
    ]  # main kept
