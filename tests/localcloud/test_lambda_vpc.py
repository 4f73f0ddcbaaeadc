"""Lambda in a VPC (issue 11, parts 2 and 3): what the local cloud models of Lambda's VPC networking
and of a gateway endpoint, and that a function in a VPC reaches DynamoDB only through one.

Each test cites the AWS page it follows. The model tests run moto in decorator mode with the
fidelity fixes (the same classes serve the server); the last tests run a function in the local
cloud and call DynamoDB from inside its VPC.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import Kit, build_zip
from moto import mock_aws

from localcloud import LocalCloud, fidelity
from localcloud.ec2 import lambda_vpc
from localcloud.iam import vpc_reach

REGION = "us-east-1"
ACCOUNT = "123456789012"
DYNAMODB = f"com.amazonaws.{REGION}.dynamodb"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/items"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/fn"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    fidelity.apply()
    with mock_aws():
        yield {s: boto3.client(s, region_name=REGION) for s in ("ec2", "lambda", "iam")}


def _network(
    ec2: Any, *, endpoint: bool = True, egress: bool = True, policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.0.0.0/20", f"{REGION}a"), ("10.0.16.0/20", f"{REGION}b"))
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    group = ec2.create_security_group(GroupName=f"fn-{uuid.uuid4().hex[:6]}", Description="fn", VpcId=vpc)[
        "GroupId"
    ]
    pl = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [DYNAMODB]}])[
        "PrefixLists"
    ][0]["PrefixListId"]
    ec2.revoke_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    if egress:
        ec2.authorize_security_group_egress(
            GroupId=group,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": pl}]}
            ],
        )
    endpoint_id = None
    if endpoint:
        extra = {"PolicyDocument": json.dumps(policy)} if policy else {}
        endpoint_id = ec2.create_vpc_endpoint(
            VpcEndpointType="Gateway", VpcId=vpc, ServiceName=DYNAMODB, RouteTableIds=[table], **extra
        )["VpcEndpoint"]["VpcEndpointId"]
    return {"vpc": vpc, "subnets": subnets, "table": table, "group": group, "pl": pl, "endpoint": endpoint_id}


def _function(aws: dict[str, Any], name: str, subnets: list[str], groups: list[str]) -> dict[str, Any]:
    try:
        role = aws["iam"].create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"][
            "Arn"
        ]
    except ClientError:
        role = ROLE_ARN
    return aws["lambda"].create_function(  # type: ignore[no-any-return]
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="app.echo",
        Code={"ZipFile": build_zip()},
        VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": groups},
    )


def _lambda_enis(ec2: Any) -> list[dict[str, Any]]:
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    return [e for e in enis if e["Description"].startswith("AWS Lambda VPC ENI")]


# R-NET-1
@pytest.mark.heavy
def test_vpc_config_reports_the_vpc_of_its_subnets(aws: dict[str, Any]) -> None:
    """https://docs.aws.amazon.com/lambda/latest/api/API_VpcConfigResponse.html: VpcId is the ID of
    the VPC the function's subnets belong to (moto answered a constant)."""
    net = _network(aws["ec2"])
    created = _function(aws, "fn-a", net["subnets"], [net["group"]])
    assert created["VpcConfig"]["VpcId"] == net["vpc"]
    config = aws["lambda"].get_function_configuration(FunctionName="fn-a")["VpcConfig"]
    assert config == {"SubnetIds": net["subnets"], "SecurityGroupIds": [net["group"]], "VpcId": net["vpc"]}


@pytest.mark.heavy
def test_unknown_subnets_and_groups_are_refused(aws: dict[str, Any]) -> None:
    """https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html: Lambda validates the
    subnets and security groups through EC2 and answers InvalidParameterValueException."""
    net = _network(aws["ec2"])
    with pytest.raises(ClientError) as bad_subnet:
        _function(aws, "fn-b", ["subnet-0123456789abcdef0"], [net["group"]])
    assert bad_subnet.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "InvalidSubnetID.NotFound" in bad_subnet.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as bad_group:
        _function(aws, "fn-c", net["subnets"], ["sg-0123456789abcdef0"])
    assert "InvalidGroup.NotFound" in bad_group.value.response["Error"]["Message"]
    _function(aws, "fn-c2", net["subnets"], [net["group"]])
    with pytest.raises(ClientError) as bad_update:
        aws["lambda"].update_function_configuration(
            FunctionName="fn-c2",
            VpcConfig={"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": [net["group"]]},
        )
    assert "InvalidSubnetID.NotFound" in bad_update.value.response["Error"]["Message"]


# R-NET-4
@pytest.mark.heavy
def test_hyperplane_enis_one_per_subnet_and_group_shared_and_released_after_a_delay(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://docs.aws.amazon.com/lambda/latest/dg/foundation-networking.html: one Hyperplane ENI
    per subnet and security-group combination, shared by functions using it; requester-managed.
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#vpc-lambda-deleting: the
    interfaces are released some time after no function uses them."""
    monkeypatch.setattr(lambda_vpc, "RELEASE_DELAY_S", 0.5)
    ec2 = aws["ec2"]
    net = _network(ec2)
    _function(aws, "fn-d", net["subnets"], [net["group"]])
    _function(aws, "fn-e", net["subnets"], [net["group"]])
    enis = _lambda_enis(ec2)
    assert sorted(e["SubnetId"] for e in enis) == sorted(net["subnets"])
    assert all(e["RequesterManaged"] and e["InterfaceType"] == "lambda" for e in enis)
    assert all([g["GroupId"] for g in e["Groups"]] == [net["group"]] for e in enis)

    aws["lambda"].delete_function(FunctionName="fn-d")
    assert len(_lambda_enis(ec2)) == 2  # fn-e still uses both
    aws["lambda"].update_function_configuration(
        FunctionName="fn-e", VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}
    )
    assert len(_lambda_enis(ec2)) == 2  # not released at once
    time.sleep(0.6)
    assert _lambda_enis(ec2) == []


# R-NET-4
@pytest.mark.heavy
def test_a_group_or_subnet_in_use_cannot_be_deleted(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html (DependencyViolation)
    and https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#vpc-lambda-deleting:
    the group and subnets can be deleted only after Lambda released its interfaces."""
    # long enough that a loaded machine still makes both calls before the interfaces go
    monkeypatch.setattr(lambda_vpc, "RELEASE_DELAY_S", 3.0)
    ec2 = aws["ec2"]
    net = _network(ec2)
    _function(aws, "fn-f", net["subnets"], [net["group"]])
    aws["lambda"].delete_function(FunctionName="fn-f")
    for call in (
        lambda: ec2.delete_security_group(GroupId=net["group"]),
        lambda: ec2.delete_subnet(SubnetId=net["subnets"][0]),
    ):
        with pytest.raises(ClientError) as held:
            call()
        assert held.value.response["Error"]["Code"] == "DependencyViolation"
    deadline = time.monotonic() + 15
    while True:  # released a moment after the delay: then both deletions go through
        try:
            ec2.delete_security_group(GroupId=net["group"])
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "DependencyViolation" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    ec2.delete_subnet(SubnetId=net["subnets"][0])


@pytest.mark.heavy
def test_endpoint_reset_policy_and_route_table_changes(aws: dict[str, Any]) -> None:
    """https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVpcEndpoint.html: ResetPolicy
    restores the default full-access policy; RemoveRouteTableIds/AddRouteTableIds remove and add the
    gateway endpoint's route (https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html#gateway-endpoint-routing)."""
    ec2 = aws["ec2"]
    narrow = {
        "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN}
        ]
    }
    net = _network(ec2, policy=narrow)
    eid = net["endpoint"]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, ResetPolicy=True)
    policy = json.loads(ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["PolicyDocument"])
    assert policy["Statement"] == [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]

    def endpoint_routes() -> list[str]:
        table = ec2.describe_route_tables(RouteTableIds=[net["table"]])["RouteTables"][0]
        return [
            r.get("GatewayId", "") for r in table["Routes"] if r.get("DestinationPrefixListId") == net["pl"]
        ]

    assert endpoint_routes() == [eid]
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, RemoveRouteTableIds=[net["table"]])
    assert endpoint_routes() == []
    ec2.modify_vpc_endpoint(VpcEndpointId=eid, AddRouteTableIds=[net["table"]])
    assert endpoint_routes() == [eid]


def _blocked(
    fn_name: str, action: str = "dynamodb:Query", resource: str = f"{TABLE_ARN}/index/byCreatedAt"
) -> str | None:
    return vpc_reach.blocked(ACCOUNT, REGION, fn_name, ROLE_ARN, "dynamodb", [(action, resource)], {})


# R-NET-2
@pytest.mark.heavy
def test_dynamodb_is_reachable_only_through_route_group_and_endpoint_policy(aws: dict[str, Any]) -> None:
    """https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html: traffic reaches
    DynamoDB from a private subnet only through the endpoint's route in the subnet's route table and
    a security group that allows it to the prefix list; the endpoint policy
    (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html) must allow the call."""
    ec2 = aws["ec2"]
    good = _network(ec2)
    _function(aws, "fn-ok", good["subnets"], [good["group"]])
    assert _blocked("fn-ok") is None

    no_endpoint = _network(ec2, endpoint=False)
    _function(aws, "fn-no-endpoint", no_endpoint["subnets"], [no_endpoint["group"]])
    assert "has no route" in str(_blocked("fn-no-endpoint"))

    no_egress = _network(ec2, egress=False)
    _function(aws, "fn-no-egress", no_egress["subnets"], [no_egress["group"]])
    assert "allows TCP 443" in str(_blocked("fn-no-egress"))

    only_items = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                "Resource": TABLE_ARN,
            }
        ]
    }
    narrow = _network(ec2, policy=only_items)
    _function(aws, "fn-narrow", narrow["subnets"], [narrow["group"]])
    assert _blocked("fn-narrow", "dynamodb:GetItem", TABLE_ARN) is None
    assert "does not allow dynamodb:Query" in str(_blocked("fn-narrow"))

    # One subnet whose table lacks the route is enough to fail: Lambda may use any of them.
    ec2.modify_vpc_endpoint(VpcEndpointId=good["endpoint"], RemoveRouteTableIds=[good["table"]])
    assert "has no route" in str(_blocked("fn-ok"))


@pytest.mark.heavy
def test_a_function_outside_any_vpc_is_not_checked(aws: dict[str, Any]) -> None:
    """https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html: by default a
    function runs in a Lambda-managed VPC with internet access to AWS's public endpoints."""
    _function(aws, "fn-public", [], [])
    assert _blocked("fn-public") is None


# --- in the running local cloud ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def vpc_kit(cloud: LocalCloud) -> Kit:
    return Kit(cloud)


# R-NET-2
@pytest.mark.heavy
def test_a_call_with_no_path_hangs_until_the_function_times_out(vpc_kit: Kit) -> None:
    """https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html and
    https://repost.aws/knowledge-center/lambda-vpc-troubleshoot-timeout (a function in a VPC without
    a route to the service times out); with the gateway endpoint the same call succeeds."""
    ec2, lam, iam, ddb = (vpc_kit.client(s) for s in ("ec2", "lambda", "iam", "dynamodb"))
    table = f"vpc-items-{vpc_kit.suffix}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    role_name = vpc_kit.role_arn.rsplit("/", 1)[-1]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="put",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "dynamodb:PutItem",
                        "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}",
                    }
                ],
            }
        ),
    )
    net = _network(ec2, endpoint=False)
    name = f"vpc-put-{vpc_kit.suffix}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=vpc_kit.role_arn,
        Handler="app.ddb_put",
        Code={"ZipFile": build_zip()},
        Timeout=5,  # room for the cold start's boto3 import on a busy machine
        MemorySize=128,
        Environment={"Variables": {"TABLE": table}},
        VpcConfig={"SubnetIds": net["subnets"], "SecurityGroupIds": [net["group"]]},
    )
    started = time.monotonic()
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"id": "a"}))
    payload = json.loads(answer["Payload"].read())
    assert answer.get("FunctionError") == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert time.monotonic() - started >= 5.0
    assert "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": "a"}})

    ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway", VpcId=net["vpc"], ServiceName=DYNAMODB, RouteTableIds=[net["table"]]
    )
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"id": "b"}))
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert ddb.get_item(TableName=table, Key={"id": {"S": "b"}})["Item"]["by"] == {"S": name}


# R-NET-1
@pytest.mark.heavy
def test_deleting_a_network_resource_deletes_its_tags(aws: dict[str, Any]) -> None:
    """https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html: "If you delete a
    resource, any tags for the resource are also deleted"; DescribeTags lists only what exists."""
    ec2 = aws["ec2"]
    tags = [{"Key": "Environment", "Value": "tagged1"}]

    def spec(kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": tags}]

    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16", TagSpecifications=spec("vpc"))["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.0.0/24", TagSpecifications=spec("subnet"))
    group = ec2.create_security_group(
        GroupName="tagged1", Description="d", VpcId=vpc, TagSpecifications=spec("security-group")
    )["GroupId"]
    table = ec2.create_route_table(VpcId=vpc, TagSpecifications=spec("route-table"))["RouteTable"]
    endpoint = ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway",
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.dynamodb",
        RouteTableIds=[table["RouteTableId"]],
        TagSpecifications=spec("vpc-endpoint"),
    )["VpcEndpoint"]["VpcEndpointId"]

    def tagged() -> set[str]:
        found = ec2.describe_tags(Filters=[{"Name": "value", "Values": ["tagged1"]}])["Tags"]
        return {t["ResourceType"] for t in found}

    assert tagged() == {"vpc", "subnet", "security-group", "route-table", "vpc-endpoint"}
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])
    ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    ec2.delete_security_group(GroupId=group)
    assert tagged() == {"vpc", "subnet"}
    ec2.delete_subnet(SubnetId=subnet["Subnet"]["SubnetId"])
    ec2.delete_vpc(VpcId=vpc)
    assert tagged() == set()
