"""vpc mode (issue 11, part 2): the network settings, the network resources, plan and drift of their
fields, the role's ENI statements, and a teardown that waits for Lambda's interfaces.

moto in decorator mode with the local cloud's fidelity fixes (which give Lambda's VpcConfig its
real VpcId and create and release the Hyperplane interfaces).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from localcloud.ec2 import lambda_vpc
from provisioning.aws import AwsClients
from provisioning.engine import Engine
from provisioning.reconcile import Action, converge
from provisioning.resources import resources_for
from provisioning.resources.base import Context
from provisioning.resources.data_access import INDEX_ACTIONS, TABLE_ACTIONS
from provisioning.resources.network import Vpc
from provisioning.spec import EnvironmentSpec, SpecError, build_spec

REGION = "us-east-1"
DYNAMODB = f"com.amazonaws.{REGION}.dynamodb"
VPC_KEYS = {"vpc", "subnets", "route_table", "security_group", "dynamodb_endpoint"}


def vpc_spec(suffix: str = "net1", **overrides: Any) -> EnvironmentSpec:
    return build_spec(suffix=suffix, stage="dev", region=REGION, overrides={"network": "vpc", **overrides})


def engine(spec: EnvironmentSpec, aws: AwsClients) -> Engine:
    return Engine(spec, clients=aws, sleep=lambda _s: None)


# --- settings -------------------------------------------------------------------------------------------
def test_network_defaults_to_public_and_takes_vpc() -> None:
    # R-NET-1
    for stage in ("dev", "staging", "prod"):
        assert build_spec(suffix="abc", stage=stage).settings.network == "public"
    spec = vpc_spec(vpc_id="vpc-0123456789abcdef0", subnet_ids="subnet-0123456789abcdef0, subnet-11111111")
    assert spec.settings.subnet_ids == ("subnet-0123456789abcdef0", "subnet-11111111")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"network": "private"}, "network"),
        ({"network": "vpc", "vpc_id": "vpc-12345678"}, "subnet_ids"),
        ({"network": "vpc", "subnet_ids": "subnet-12345678,subnet-87654321"}, "vpc_id"),
        ({"network": "vpc", "vpc_id": "vpc-xyz", "subnet_ids": "subnet-12345678,subnet-87654321"}, "vpc_id"),
        ({"network": "vpc", "vpc_id": "vpc-12345678", "subnet_ids": "subnet-12345678"}, "subnet_ids"),
        (
            {"network": "vpc", "vpc_id": "vpc-12345678", "subnet_ids": "subnet-12345678,subnet-12345678"},
            "subnet_ids",
        ),
        ({"vpc_id": "vpc-12345678", "subnet_ids": "subnet-12345678,subnet-87654321"}, "network"),
    ],
)
def test_bad_network_settings_are_refused_before_any_call(overrides: dict[str, Any], field: str) -> None:
    # R-NET-1
    with pytest.raises(SpecError) as refused:
        build_spec(suffix="abc", stage="dev", overrides=overrides)
    problems = {p.field: p for p in refused.value.problems}
    assert field in problems, refused.value
    assert problems[field].allowed  # says what is allowed


def _without_network(spec: EnvironmentSpec, aws: AwsClients) -> Engine:
    """The same engine without the network resources: what a public run cost before R-NET-1."""
    kept = [r for r in resources_for(spec) if r.key not in VPC_KEYS]
    return Engine(spec, clients=aws, sleep=lambda _s: None, resources=kept)


def _ec2_calls(result: Any) -> dict[str, int]:
    return {op: n for op, n in result.calls.by_operation.items() if op.startswith("ec2.")}


@pytest.mark.heavy
def test_public_mode_looks_for_a_network_past_with_one_read(aws: AwsClients) -> None:
    # R-NET-1: the network's resources are in every mode's graph, wanted only in vpc mode; a
    # public run pays one DescribeTags for them, and none of them makes a read of its own
    spec = build_spec(suffix="pub1", stage="dev", region=REGION)
    assert {r.key for r in resources_for(spec)} >= VPC_KEYS
    plan = engine(spec, aws).plan()
    actions = {s.resource: s.action for s in plan.steps}
    assert actions["function"] == "create"
    assert {actions[k] for k in VPC_KEYS} == {"no-op"}
    assert _ec2_calls(plan) == {"ec2.DescribeTags": 1}
    assert engine(spec, aws).apply().ok
    for run in ("plan", "drift", "apply"):
        with_network = getattr(engine(spec, aws), run)()
        without = getattr(_without_network(spec, aws), run)()
        assert with_network.ok and with_network.changes == [] and with_network.calls.mutating == 0
        assert with_network.calls.reads - without.calls.reads == 1, run
        assert _ec2_calls(with_network) == {"ec2.DescribeTags": 1}
    config = aws.client("lambda").get_function_configuration(FunctionName=spec.names.function)
    assert not (config.get("VpcConfig") or {}).get("SubnetIds")


# --- provisioning ---------------------------------------------------------------------------------------
@pytest.fixture
def provisioned(aws: AwsClients) -> tuple[EnvironmentSpec, dict[str, Any]]:
    spec = vpc_spec()
    result = engine(spec, aws).apply()
    assert result.ok, result.error
    return spec, result.outputs


@pytest.mark.heavy
def test_vpc_mode_makes_private_subnets_and_no_way_out(aws: AwsClients, provisioned: Any) -> None:
    # R-NET-1
    spec, outputs = provisioned
    ec2 = aws.client("ec2")
    vpc = outputs["vpc_id"]
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"]
    assert ec2.describe_vpc_attribute(VpcId=vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"][
        "Value"
    ]
    subnets = ec2.describe_subnets(SubnetIds=outputs["subnet_ids"])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) >= 2
    assert not any(s["MapPublicIpOnLaunch"] for s in subnets)
    assert (
        ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])[
            "InternetGateways"
        ]
        == []
    )
    assert ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc]}])["NatGateways"] == []
    (table,) = ec2.describe_route_tables(RouteTableIds=outputs["route_table_ids"])["RouteTables"]
    assert sorted(a["SubnetId"] for a in table["Associations"]) == sorted(outputs["subnet_ids"])
    targets = {r.get("GatewayId") for r in table["Routes"]}
    assert targets == {"local", outputs["dynamodb_endpoint_id"]}
    assert not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table["Routes"])

    group = ec2.describe_security_groups(GroupIds=[outputs["security_group_id"]])["SecurityGroups"][0]
    pl = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [DYNAMODB]}])[
        "PrefixLists"
    ][0]["PrefixListId"]
    assert group["IpPermissions"] == []
    (egress,) = group["IpPermissionsEgress"]
    assert (egress["IpProtocol"], egress["FromPort"], egress["ToPort"]) == ("tcp", 443, 443)
    assert [p["PrefixListId"] for p in egress["PrefixListIds"]] == [pl] and egress["IpRanges"] == []

    config = aws.client("lambda").get_function_configuration(FunctionName=spec.names.function)["VpcConfig"]
    assert sorted(config["SubnetIds"]) == sorted(outputs["subnet_ids"])
    assert config["SecurityGroupIds"] == [outputs["security_group_id"]]
    assert config["VpcId"] == vpc


@pytest.mark.heavy
def test_the_endpoint_policy_grants_exactly_what_the_role_grants_on_the_table(
    aws: AwsClients, provisioned: Any
) -> None:
    # R-NET-2
    spec, outputs = provisioned
    endpoint = aws.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[outputs["dynamodb_endpoint_id"]])[
        "VpcEndpoints"
    ][0]
    assert endpoint["ServiceName"] == DYNAMODB and endpoint["VpcEndpointType"] == "Gateway"
    assert endpoint["RouteTableIds"] == outputs["route_table_ids"]
    policy = json.loads(endpoint["PolicyDocument"])
    role_policy = aws.client("iam").get_role_policy(
        RoleName=spec.names.function_role, PolicyName=spec.names.function_policy
    )["PolicyDocument"]
    role_dynamodb = {
        (s["Sid"], tuple(sorted(s["Action"])), tuple(s["Resource"]))
        for s in role_policy["Statement"]
        if all(a.startswith("dynamodb:") for a in s["Action"])
    }
    endpoint_grants = {
        (s["Sid"], tuple(sorted(s["Action"])), tuple(s["Resource"])) for s in policy["Statement"]
    }
    assert endpoint_grants == role_dynamodb
    table_arn = f"arn:aws:dynamodb:{REGION}:123456789012:table/{spec.names.table}"
    assert endpoint_grants == {
        ("ReadWriteDeleteItemsInOwnTable", tuple(sorted(TABLE_ACTIONS)), (table_arn,)),
        ("ListItemsNewestFirstViaCreatedAtIndex", INDEX_ACTIONS, (f"{table_arn}/index/byCreatedAt",)),
    }
    assert all(s["Principal"] == "*" and s["Effect"] == "Allow" for s in policy["Statement"])


@pytest.mark.heavy
def test_the_role_gets_only_scoped_eni_permissions(aws: AwsClients, provisioned: Any) -> None:
    # R-NET-3
    spec, outputs = provisioned
    document = aws.client("iam").get_role_policy(
        RoleName=spec.names.function_role, PolicyName=spec.names.function_policy
    )["PolicyDocument"]
    ec2_statements = {
        s["Sid"]: s for s in document["Statement"] if any(a.startswith("ec2:") for a in s["Action"])
    }
    actions = sorted(a for s in ec2_statements.values() for a in s["Action"])
    assert actions == sorted(
        [
            "ec2:AssignPrivateIpAddresses",
            "ec2:CreateNetworkInterface",
            "ec2:DeleteNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:UnassignPrivateIpAddresses",
        ]
    )
    create = ec2_statements["LambdaCreatesEnisOnlyInOwnSubnetsWithOwnGroup"]["Resource"]
    prefix = f"arn:aws:ec2:{REGION}:123456789012:"
    assert sorted(create) == sorted(
        [f"{prefix}network-interface/*", f"{prefix}security-group/{outputs['security_group_id']}"]
        + [f"{prefix}subnet/{s}" for s in outputs["subnet_ids"]]
    )
    manage = ec2_statements["LambdaManagesEnisOfThisAccountAndRegion"]["Resource"]
    assert manage == [f"{prefix}network-interface/*"]
    # Only the Describe calls, which take no resource-level permission, use "*".
    assert ec2_statements["LambdaDescribesEnisAndSubnetsAwsRequiresStarResource"]["Action"] == [
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
    ]


@pytest.mark.heavy
def test_a_second_apply_changes_nothing(aws: AwsClients, provisioned: Any) -> None:
    spec, _ = provisioned
    again = engine(spec, aws).apply()
    assert again.ok and again.changes == [], [(s.resource, s.diffs) for s in again.changes]
    assert again.calls.mutating == 0


@pytest.mark.heavy
def test_a_crashed_create_is_adopted_not_duplicated(aws: AwsClients) -> None:
    """The VPC, made with its tags in the same call, is found by them on the next run."""
    ctx = Context(spec=vpc_spec("crash1"), aws=aws, sleep=lambda _s: None)
    Vpc().create(ctx, Vpc().desired(ctx))  # the run died right after this call
    outcome = converge(Vpc(), Context(spec=ctx.spec, aws=aws, sleep=lambda _s: None))
    assert outcome.action is Action.NOOP
    tagged = aws.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["crash1"]}])[
        "Vpcs"
    ]
    assert len(tagged) == 1


# --- drift ----------------------------------------------------------------------------------------------
@pytest.mark.heavy
def test_drift_finds_a_changed_endpoint_policy_an_open_group_and_a_default_route(
    aws: AwsClients, provisioned: Any
) -> None:
    # R-NET-2
    spec, outputs = provisioned
    ec2 = aws.client("ec2")
    endpoint = outputs["dynamodb_endpoint_id"]
    policy = json.loads(
        ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"][0]["PolicyDocument"]
    )
    policy["Statement"] = [s for s in policy["Statement"] if "dynamodb:Query" not in s["Action"]]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, PolicyDocument=json.dumps(policy))
    ec2.authorize_security_group_egress(
        GroupId=outputs["security_group_id"],
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=outputs["vpc_id"])
    ec2.create_route(
        RouteTableId=outputs["route_table_ids"][0], DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway
    )

    drift = engine(spec, aws).drift()
    found = {(f.resource, f.field) for f in drift.findings}
    assert ("dynamodb_endpoint", "policy.Statement[ListItemsNewestFirstViaCreatedAtIndex]") in found
    assert ("security_group", "Egress") in found
    assert ("route_table", "Routes") in found
    assert ("vpc", "InternetGateways") in found

    repaired = engine(spec, aws).apply()
    assert repaired.ok, repaired.error
    assert engine(spec, aws).drift().findings == []


@pytest.mark.heavy
def test_a_route_table_taken_off_the_endpoint_is_drift_and_put_back(
    aws: AwsClients, provisioned: Any
) -> None:
    # R-NET-2
    spec, outputs = provisioned
    ec2 = aws.client("ec2")
    ec2.modify_vpc_endpoint(
        VpcEndpointId=outputs["dynamodb_endpoint_id"], RemoveRouteTableIds=outputs["route_table_ids"]
    )
    drift = engine(spec, aws).drift()
    assert [(f.resource, f.field) for f in drift.findings] == [("dynamodb_endpoint", "RouteTableIds")]
    assert engine(spec, aws).apply().ok
    table = ec2.describe_route_tables(RouteTableIds=outputs["route_table_ids"])["RouteTables"][0]
    assert outputs["dynamodb_endpoint_id"] in {r.get("GatewayId") for r in table["Routes"]}


# --- teardown -------------------------------------------------------------------------------------------
def _left_in(aws: AwsClients, vpc: str) -> dict[str, int]:
    ec2 = aws.client("ec2")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    endpoints = ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]
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
        "tables": len(
            [
                t
                for t in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
                if not any(a.get("Main") for a in t["Associations"])
            ]
        ),
        "endpoints": len([e for e in endpoints if e["State"].lower() != "deleted"]),
    }


@pytest.mark.heavy
def test_teardown_waits_for_lambda_enis_then_leaves_nothing(aws: AwsClients, provisioned: Any) -> None:
    # R-NET-4
    spec, outputs = provisioned
    ec2 = aws.client("ec2")
    assert (
        len(
            ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [outputs["vpc_id"]]}])[
                "NetworkInterfaces"
            ]
        )
        == 2
    )
    slept: list[float] = []
    result = Engine(spec, clients=aws, sleep=slept.append).destroy(eni_poll_s=0.05)
    assert result.ok, result.error
    order = [s.resource for s in result.steps]
    assert order.index("function") < order.index("security_group")
    assert order.index("function") < order.index("subnets")
    assert order.index("security_group") < order.index("vpc") and order.index("subnets") < order.index("vpc")
    assert order.index("dynamodb_endpoint") < order.index("route_table") < order.index("vpc")
    waited = result.notes["eni_release"]
    assert waited[f"security group {outputs['security_group_id']}"]["enis"]
    group_step = next(s for s in result.steps if s.resource == "security_group")
    assert "for Lambda to release eni-" in group_step.detail  # shown with the step
    assert slept and all(s == 0.05 for s in slept)
    assert not ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [outputs["vpc_id"]]}])["Vpcs"]
    assert _left_in(aws, outputs["vpc_id"]) == {
        "enis": 0,
        "subnets": 0,
        "groups": 0,
        "tables": 0,
        "endpoints": 0,
    }


@pytest.mark.heavy
def test_a_teardown_that_times_out_waiting_is_resumed_by_running_it_again(
    aws: AwsClients, provisioned: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-NET-4
    spec, _ = provisioned
    monkeypatch.setattr(lambda_vpc, "RELEASE_DELAY_S", 3600.0)  # AWS being slow
    first = Engine(spec, clients=aws, sleep=lambda _s: None).destroy(
        eni_release_timeout_s=0.0, eni_poll_s=0.0
    )
    assert not first.ok
    steps = {s.resource: s for s in first.steps}
    assert steps["function"].action == "delete"
    assert "still in security group" in str(steps["security_group"].error)
    assert "run the teardown again" in str(steps["security_group"].error)
    assert "still in use in security group" in steps["security_group"].detail
    assert steps["vpc"].status == "skipped"

    monkeypatch.setattr(lambda_vpc, "RELEASE_DELAY_S", 0.0)  # released meanwhile
    second = Engine(spec, clients=aws, sleep=lambda _s: None).destroy(eni_poll_s=0.0)
    assert second.ok, second.error
    actions = {s.resource: s.action for s in second.steps}
    assert (
        actions["function"] == "no-op"
        and actions["security_group"] == "delete"
        and actions["vpc"] == "delete"
    )


@pytest.mark.heavy
def test_an_adopted_vpc_is_used_and_never_deleted(aws: AwsClients) -> None:
    # R-NET-4
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
        for c, z in (("10.9.0.0/24", "us-east-1a"), ("10.9.1.0/24", "us-east-1b"))
    ]
    spec = vpc_spec("adopt1", vpc_id=vpc, subnet_ids=",".join(subnets))
    applied = engine(spec, aws).apply()
    assert applied.ok, applied.error
    assert applied.outputs["vpc_id"] == vpc and applied.outputs["subnet_ids"] == subnets
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0][
        "RouteTableId"
    ]
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[applied.outputs["dynamodb_endpoint_id"]])[
        "VpcEndpoints"
    ][0]
    assert endpoint["VpcId"] == vpc and endpoint["RouteTableIds"] == [main]
    assert engine(spec, aws).plan().changes == []

    destroyed = Engine(spec, clients=aws, sleep=lambda _s: None).destroy(eni_poll_s=0.0)
    assert destroyed.ok, destroyed.error
    assert "vpc" not in {s.resource for s in destroyed.steps}
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == 2
    assert ec2.describe_route_tables(RouteTableIds=[main])["RouteTables"]
    assert _left_in(aws, vpc) == {"enis": 0, "subnets": 2, "groups": 0, "tables": 0, "endpoints": 0}


@pytest.mark.heavy
def test_adopted_subnets_in_one_zone_or_another_vpc_are_refused(aws: AwsClients) -> None:
    # R-NET-1
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        for c in ("10.8.0.0/24", "10.8.1.0/24")
    ]
    result = engine(vpc_spec("adopt2", vpc_id=vpc, subnet_ids=",".join(subnets)), aws).apply()
    assert not result.ok
    assert "at least two Availability Zones" in str(result.error)


@pytest.mark.heavy
def test_drift_finds_a_function_taken_out_of_the_vpc_and_a_subnet_moved_off_the_table(
    aws: AwsClients, provisioned: Any
) -> None:
    # R-NET-1
    spec, outputs = provisioned
    aws.client("lambda").update_function_configuration(
        FunctionName=spec.names.function, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}
    )
    ec2 = aws.client("ec2")
    (table,) = ec2.describe_route_tables(RouteTableIds=outputs["route_table_ids"])["RouteTables"]
    ec2.disassociate_route_table(AssociationId=table["Associations"][0]["RouteTableAssociationId"])

    found = {(f.resource, f.field) for f in engine(spec, aws).drift().findings}
    assert {
        ("function", "VpcConfig.SubnetIds"),
        ("function", "VpcConfig.SecurityGroupIds"),
        ("route_table", "Associations"),
    } <= found
    assert engine(spec, aws).apply().ok
    assert engine(spec, aws).drift().findings == []


# --- back to public ------------------------------------------------------------------------------------
def _public(spec: EnvironmentSpec) -> EnvironmentSpec:
    return build_spec(suffix=spec.suffix, stage="dev", region=REGION)


@pytest.mark.heavy
def test_vpc_to_public_apply_takes_the_function_out_and_removes_the_network(
    aws: AwsClients, provisioned: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-NET-1, R-NET-4: the function leaves the VPC, the alias moves to a version outside it, the
    # versions published in it are deleted (they hold its interfaces), Lambda's interfaces are
    # waited for, and then everything vpc mode made is deleted, in teardown's order
    spec, outputs = provisioned
    monkeypatch.setattr(lambda_vpc, "RELEASE_DELAY_S", 0.3)  # released a few polls later
    public = _public(spec)
    planned = {s.resource: s.action for s in engine(public, aws).plan().changes}
    # the alias moves to a version outside the VPC: the plan says so, as apply does (issue 23)
    assert planned == {
        "function_role": "update",
        "function": "update",
        "alias": "update",
        **dict.fromkeys(VPC_KEYS, "delete"),
    }

    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(0.05)

    applied = Engine(public, clients=aws, sleep=sleep).apply()
    assert applied.ok, applied.error
    assert {s.resource: s.action for s in applied.changes}["alias"] == "update"
    order = [s.resource for s in applied.steps]
    for key in ("security_group", "subnets", "dynamodb_endpoint"):
        assert order.index("function") < order.index(key), key
    assert order.index("alias") < order.index("security_group")
    assert order.index("alias") < order.index("subnets")
    assert order.index("dynamodb_endpoint") < order.index("route_table") < order.index("vpc")
    assert order.index("security_group") < order.index("vpc") and order.index("subnets") < order.index("vpc")
    steps = {s.resource: s for s in applied.steps}
    assert {steps[k].action for k in VPC_KEYS} == {"delete"}
    assert applied.notes["retired_vpc_versions"] == ["1"]
    group_detail = steps["security_group"].detail + steps["subnets"].detail
    assert "deleted version(s) 1" in group_detail
    assert "for Lambda to release eni-" in group_detail  # the ENI wait, shown with the step
    assert applied.notes["eni_release"] and slept

    lam = aws.client("lambda")
    config = lam.get_function_configuration(FunctionName=spec.names.function)
    assert not (config.get("VpcConfig") or {}).get("SubnetIds")
    serving = lam.get_alias(FunctionName=spec.names.function, Name="live")["FunctionVersion"]
    served = lam.get_function_configuration(FunctionName=spec.names.function, Qualifier=serving)
    assert serving != "1" and not (served.get("VpcConfig") or {}).get("SubnetIds")
    versions = lam.list_versions_by_function(FunctionName=spec.names.function)["Versions"]
    assert [v["Version"] for v in versions if (v.get("VpcConfig") or {}).get("SubnetIds")] == []
    document = aws.client("iam").get_role_policy(
        RoleName=spec.names.function_role, PolicyName=spec.names.function_policy
    )["PolicyDocument"]
    assert not any(a.startswith("ec2:") for st in document["Statement"] for a in st["Action"])
    assert not any(v["VpcId"] == outputs["vpc_id"] for v in aws.client("ec2").describe_vpcs()["Vpcs"])
    assert _left_in(aws, outputs["vpc_id"]) == dict.fromkeys(
        ("enis", "subnets", "groups", "tables", "endpoints"), 0
    )
    again = engine(public, aws).apply()
    assert again.ok and again.changes == [] and again.calls.mutating == 0
    assert _ec2_calls(again) == {"ec2.DescribeTags": 1}
    assert engine(public, aws).drift().findings == []


@pytest.mark.heavy
def test_a_public_teardown_removes_what_a_vpc_past_left(aws: AwsClients, provisioned: Any) -> None:
    # R-NET-4, R-OPS-4: the environment was set back to public and never applied; its teardown
    # (in public mode) still finds the network by its tags and waits for Lambda's interfaces
    spec, outputs = provisioned
    destroyed = Engine(_public(spec), clients=aws, sleep=lambda _s: None).destroy(eni_poll_s=0.05)
    assert destroyed.ok, destroyed.error
    assert {s.resource: s.action for s in destroyed.steps if s.resource in VPC_KEYS} == dict.fromkeys(
        VPC_KEYS, "delete"
    )
    assert destroyed.notes["eni_release"]
    assert not any(v["VpcId"] == outputs["vpc_id"] for v in aws.client("ec2").describe_vpcs()["Vpcs"])
    assert _left_in(aws, outputs["vpc_id"]) == dict.fromkeys(
        ("enis", "subnets", "groups", "tables", "endpoints"), 0
    )


@pytest.mark.heavy
def test_adopted_vpc_to_public_removes_only_envports_group_and_endpoint(
    aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-NET-1, R-NET-4: the security group and the endpoint envport put into someone else's VPC go;
    # the VPC, its subnets and route tables stay
    monkeypatch.setattr(lambda_vpc, "RELEASE_DELAY_S", 0.0)
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)["Subnet"]["SubnetId"]
        for c, z in (("10.9.0.0/24", "us-east-1a"), ("10.9.1.0/24", "us-east-1b"))
    ]
    spec = vpc_spec("adopt3", vpc_id=vpc, subnet_ids=",".join(subnets))
    assert engine(spec, aws).apply().ok
    applied = engine(_public(spec), aws).apply()
    assert applied.ok, applied.error
    deleted = {s.resource for s in applied.steps if s.action == "delete"}
    assert deleted == {"security_group", "dynamodb_endpoint"}
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert _left_in(aws, vpc) == {"enis": 0, "subnets": 2, "groups": 0, "tables": 0, "endpoints": 0}
