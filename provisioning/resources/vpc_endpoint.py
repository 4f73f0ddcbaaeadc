"""The DynamoDB gateway endpoint in vpc mode (R-NET-2): the function's only way to its table.

A gateway endpoint (https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html) adds
a route for the Region's DynamoDB prefix list to each route table it is associated with; without
it, a function in a private subnet has no path to DynamoDB and its calls hang until it times out
(seed 004 #1). Its policy (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html)
allows exactly what the execution role allows on the environment's table and index, built from the
same `data_access.data_grants` (seed 003 #3: valid and exact). An endpoint policy does not grant
anything by itself: it limits what may pass through, for any principal (`"Principal": "*"`), and
the role still decides who.

Drift is compared statement by statement (keyed by Sid, like the role's policy), and on the route
tables the endpoint is associated with; an update writes the whole policy back (ModifyVpcEndpoint)
and adds or removes route tables. Created with a client token and its tags in one call, and found
by tags, so a retried run never makes a second endpoint (two DynamoDB gateway endpoints on one
route table are refused by AWS).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..aws import error_code
from .base import MISSING, UNKNOWN, Context, FieldDiff, Observed
from .data_access import data_grants
from .network import (
    VpcModeResource,
    ec2_tags,
    lowest_id,
    name_tags,
    retag,
    route_table_ids,
    tag_specs,
    vpc_id,
)
from .role import POLICY_VERSION, STATEMENT_PREFIX, statement_fields
from .security_group import dynamodb_service

LIVE_STATES = ("pendingacceptance", "pending", "available", "modifying")


def endpoint_policy(ctx: Context) -> dict[str, Any]:
    """The endpoint policy: the role's DynamoDB statements, for any principal."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": grant.sid,
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(grant.actions),
                "Resource": list(grant.resources),
            }
            for grant in data_grants(ctx)
        ],
    }


class DynamoDbEndpoint(VpcModeResource):
    key = "dynamodb_endpoint"
    kind = "ec2-vpc-endpoint"
    ec2_type = "vpc-endpoint"
    depends_on = ("vpc", "subnets", "route_table")

    def name(self, ctx: Context) -> str:
        return f"{ctx.names.base}-dynamodb"

    def observe(self, ctx: Context) -> Observed | None:
        endpoints = self.tagged(ctx, "describe_vpc_endpoints", "VpcEndpoints")
        live = [e for e in endpoints if str(e.get("State", "")).lower() in LIVE_STATES]
        endpoint = lowest_id(live, "VpcEndpointId")
        if endpoint is None:
            return None
        document = endpoint.get("PolicyDocument") or "{}"
        try:
            policy = json.loads(document) if isinstance(document, str) else document
        except ValueError:
            policy = {"Statement": [{"Sid": "Unparseable", "Text": document}]}
        statements = policy.get("Statement", []) if isinstance(policy, dict) else []
        state: dict[str, Any] = {
            "VpcId": endpoint.get("VpcId", MISSING),
            "ServiceName": endpoint.get("ServiceName", MISSING),
            "VpcEndpointType": endpoint.get("VpcEndpointType", MISSING),
            "RouteTableIds": sorted(endpoint.get("RouteTableIds", [])),
            "tags": ec2_tags(endpoint),
            **dict(statement_fields(statements if isinstance(statements, list) else [statements])),
        }
        return Observed(state=state, attrs={"id": endpoint["VpcEndpointId"]})

    def desired(self, ctx: Context) -> dict[str, Any]:
        tables = route_table_ids(ctx)
        return {
            "VpcId": vpc_id(ctx),
            "ServiceName": dynamodb_service(ctx),
            "VpcEndpointType": "Gateway",
            "RouteTableIds": UNKNOWN if tables == UNKNOWN else sorted(tables),
            "tags": name_tags(ctx, self.name(ctx)),
            **dict(statement_fields(endpoint_policy(ctx)["Statement"])),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if UNKNOWN in (desired["VpcId"], desired["RouteTableIds"]):
            raise RuntimeError("the VPC and its route tables must exist before the DynamoDB endpoint")
        endpoint = ctx.client("ec2").create_vpc_endpoint(
            VpcEndpointType="Gateway",
            VpcId=desired["VpcId"],
            ServiceName=desired["ServiceName"],
            RouteTableIds=desired["RouteTableIds"],
            PolicyDocument=json.dumps(endpoint_policy(ctx)),
            # One token per create: the SDK's retries of this call reuse it, so a retry after a lost
            # answer returns the same endpoint. Not derived from the name: EC2 would hand back a
            # deleted endpoint to a re-provision within the token's lifetime. Across runs the tags find it.
            ClientToken=str(uuid.uuid4()),
            TagSpecifications=tag_specs(ctx, "vpc-endpoint", self.name(ctx)),
        )["VpcEndpoint"]
        return {"id": endpoint["VpcEndpointId"]}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        eid = observed.attrs["id"]
        changed = {d.field for d in diffs}
        fixed = changed & {"VpcId", "ServiceName", "VpcEndpointType"}
        if fixed:
            raise RuntimeError(
                f"endpoint {eid} differs in {', '.join(sorted(fixed))}, which cannot change: "
                "delete it and provision again"
            )
        params: dict[str, Any] = {}
        if any(f.startswith(STATEMENT_PREFIX) for f in changed):
            params["PolicyDocument"] = json.dumps(endpoint_policy(ctx))
        if "RouteTableIds" in changed and desired["RouteTableIds"] != UNKNOWN:
            have, want = set(observed.state.get("RouteTableIds", [])), set(desired["RouteTableIds"])
            if want - have:
                params["AddRouteTableIds"] = sorted(want - have)
            if have - want:
                params["RemoveRouteTableIds"] = sorted(have - want)
        if params:
            ctx.client("ec2").modify_vpc_endpoint(VpcEndpointId=eid, **params)
        if "tags" in changed:
            retag(ctx, eid, observed.state.get("tags"), desired["tags"])
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        try:
            answer = ctx.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[observed.attrs["id"]])
        except Exception as exc:
            if error_code(exc) != "InvalidVpcEndpointId.NotFound":
                raise
            return
        failed = [
            u for u in answer.get("Unsuccessful", []) if "NotFound" not in str(u.get("Error", {}).get("Code"))
        ]
        if failed:
            raise RuntimeError(f"endpoint {observed.attrs['id']} was not deleted: {failed}")

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"dynamodb_endpoint_id": attrs.get("id")}
