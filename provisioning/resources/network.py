"""The function's private network in vpc mode (R-NET-1): a VPC, private subnets, their route table.

Managed (`network=vpc`, no `vpc_id`): envport makes a VPC with DNS support and hostnames on (a
gateway endpoint is reached through the VPC's resolver), one private subnet in each of the first
two Availability Zones that `DescribeAvailabilityZones` lists, and one route table shared by the
subnets with no route but the VPC's local one: no internet gateway, no NAT, no 0.0.0.0/0. The
only way out is the DynamoDB gateway endpoint (`vpc_endpoint.py`), whose route AWS adds to this
table.

Adopted (`vpc_id` and `subnet_ids` given): the VPC, its subnets and their route tables are read,
never changed and never deleted (`shared`: teardown skips them); the security group and the
endpoint are still envport's, made inside that VPC.

Crash safety: everything is created with its tags in the same call (`TagSpecifications`) and found
again by the environment's tags and its `Name`, so a run that died after a create adopts what it
made instead of making a second one.

Teardown order follows the graph in reverse: the function first, then (after Lambda has released
its network interfaces, which `wait_for_lambda_enis` waits for) the security group and the
subnets, the route table, and the VPC last.

Back to public (docs/network.md): the managed resources stay in the graph in public mode, not
`wanted`, so apply deletes what a vpc-mode past left and teardown finds it. The engine turns the
edges onto an unwanted resource around, so the function leaves the VPC (and the `live` alias
moves to a version outside it) before the network goes. A public run pays one read for this
(`network_leftovers`: DescribeTags for the environment's EC2 resources; a sweep shares it for the
account): a kind that holds none of the environment's tags is absent without a call of its own.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ClassVar

from ..aws import error_code, paged_items, tag_map, tolerating_absent, unless_absent
from .base import MISSING, UNKNOWN, Context, FieldDiff, Observed, Resource, key_value_list, user_tags

VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")  # one per Availability Zone, room for Lambda's ENIs
# Lambda names the network interfaces it creates for a function this way (requester-managed,
# "AWS Lambda VPC ENI-<function>-..."); teardown waits for those in its subnets and group to go.
LAMBDA_ENI_DESCRIPTION = "AWS Lambda VPC ENI"
# Releasing a function's Hyperplane ENIs "can take up to 20 minutes" after the function is deleted or
# leaves the VPC (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#vpc-lambda-deleting).
ENI_RELEASE_TIMEOUT_S = 40 * 60.0
ENI_POLL_S = 15.0


def vpc_mode(ctx: Context) -> bool:
    return bool(ctx.spec.settings.network == "vpc")


def adopted(ctx: Context) -> bool:
    return bool(ctx.spec.settings.vpc_id)


# The EC2 resource types envport makes in vpc mode (DescribeTags' `resource-type` names).
NETWORK_TYPES = ("vpc", "subnet", "route-table", "security-group", "vpc-endpoint")


def network_leftovers(ctx: Context) -> frozenset[str]:
    """The EC2 resource types (`NETWORK_TYPES`) of which something carries this environment's tags.

    Read once per run, and only outside vpc mode, where nothing of the network is wanted: one
    DescribeTags for the environment's Environment and ManagedBy tags on those types (a sweep
    answers it from one account-wide read, `shared_reads`). A resource kind that is not listed
    here is absent without a read of its own; one that is listed is observed as in vpc mode (by
    its full tags and Name), so a stranger's resource tagged `Environment` alone is never ours.
    It sees an adopted VPC's security group and endpoint too, which a VPC lookup would not.
    """

    def read() -> frozenset[str]:
        wanted = {"Environment": ctx.spec.suffix, "ManagedBy": ctx.spec.tags["ManagedBy"]}
        filters = [
            {"Name": "resource-type", "Values": list(NETWORK_TYPES)},
            {"Name": "key", "Values": sorted(wanted)},
            {"Name": "value", "Values": sorted(set(wanted.values()))},
        ]
        found: dict[str, tuple[str, set[str]]] = {}
        for tag in paged_items(ctx.client("ec2"), "describe_tags", "Tags", Filters=filters):
            if wanted.get(tag.get("Key", "")) == tag.get("Value"):
                entry = found.setdefault(tag["ResourceId"], (tag.get("ResourceType", ""), set()))
                entry[1].add(tag["Key"])
        return frozenset(kind for kind, keys in found.values() if keys == set(wanted))

    kinds: frozenset[str] = ctx.cached("network_leftovers", read)
    return kinds


def absent_outside_vpc_mode(ctx: Context, resource_type: str) -> bool:
    """True when the resource is not wanted and `network_leftovers` shows none of its kind."""
    return not vpc_mode(ctx) and resource_type not in network_leftovers(ctx)


def name_tags(ctx: Context, name: str) -> dict[str, str]:
    return {**ctx.tag_dict, "Name": name}


def tag_specs(ctx: Context, kind: str, name: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": key_value_list(name_tags(ctx, name))}]


def tag_filters(ctx: Context, name: str | None = None) -> list[dict[str, Any]]:
    """The environment's ownership tags (and a Name) as EC2 describe filters."""
    filters = [
        {"Name": "tag:Environment", "Values": [ctx.spec.suffix]},
        {"Name": "tag:ManagedBy", "Values": [ctx.spec.tags["ManagedBy"]]},
    ]
    if name is not None:
        filters.append({"Name": "tag:Name", "Values": [name]})
    return filters


def ec2_tags(item: dict[str, Any]) -> dict[str, str]:
    return user_tags(tag_map(item.get("Tags") or []))


def retag(ctx: Context, resource_id: str, found: Any, wanted: dict[str, str]) -> None:
    """EC2's one tag API for every resource kind: remove strays, then set what differs."""
    ec2 = ctx.client("ec2")
    have = found if isinstance(found, dict) else {}
    stray = sorted(set(have) - set(wanted))
    if stray:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in stray])
    changed = {k: v for k, v in wanted.items() if have.get(k) != v}
    if changed:
        ec2.create_tags(Resources=[resource_id], Tags=key_value_list(changed))


def vpc_id(ctx: Context) -> Any:
    return ctx.spec.settings.vpc_id or ctx.attr("vpc", "id")


def subnet_ids(ctx: Context) -> Any:
    return ctx.attr("subnets", "ids")


def ec2_arn(ctx: Context, resource: str) -> str:
    return ctx.arn("ec2", resource)


# --- the execution role's ENI permissions (R-NET-3) --------------------------------------------------
def eni_statements(ctx: Context) -> list[dict[str, Any]]:
    """What Lambda needs to put the function into the VPC, scoped as tightly as AWS allows.

    The actions are those of the managed policy AWSLambdaVPCAccessExecutionRole less its log
    actions (the role has its own, scoped to the function's log group):
    https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html
    and the list in https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions.

    - CreateNetworkInterface takes resource-level permissions on the network interface, the subnet
      and the security group (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html):
      new interfaces only in this environment's subnets, only with its group.
    - DescribeNetworkInterfaces and DescribeSubnets support no resource-level permissions; Lambda's
      page says DescribeNetworkInterfaces "only works if it's allowed on all resources".
    - DeleteNetworkInterface, AssignPrivateIpAddresses and UnassignPrivateIpAddresses: Lambda's page
      warns that naming particular interface ids for DeleteNetworkInterface can cut the function off
      from the VPC and advises the account's own resources instead; the interfaces of this account
      and Region is as tight as that advice allows.
    """
    if not vpc_mode(ctx):
        return []
    subnets, group = subnet_ids(ctx), ctx.attr("security_group", "id")
    if subnets == UNKNOWN or group == UNKNOWN:
        create_resources: list[Any] = [UNKNOWN]
    else:
        create_resources = [
            ec2_arn(ctx, "network-interface/*"),
            *(ec2_arn(ctx, f"subnet/{s}") for s in sorted(subnets)),
            ec2_arn(ctx, f"security-group/{group}"),
        ]
    return [
        {
            "Sid": "LambdaCreatesEnisOnlyInOwnSubnetsWithOwnGroup",
            "Effect": "Allow",
            "Action": ["ec2:CreateNetworkInterface"],
            "Resource": create_resources,
        },
        {
            "Sid": "LambdaDescribesEnisAndSubnetsAwsRequiresStarResource",
            "Effect": "Allow",
            "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            "Resource": ["*"],
        },
        {
            "Sid": "LambdaManagesEnisOfThisAccountAndRegion",
            "Effect": "Allow",
            "Action": [
                "ec2:AssignPrivateIpAddresses",
                "ec2:DeleteNetworkInterface",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": [ec2_arn(ctx, "network-interface/*")],
        },
    ]


# --- waiting for Lambda to release its interfaces (R-NET-4) -------------------------------------------
def lambda_enis(ctx: Context, filters: list[dict[str, Any]]) -> list[str]:
    """Ids of Lambda's requester-managed interfaces matching `filters` (a subnet or a group)."""
    enis = paged_items(ctx.client("ec2"), "describe_network_interfaces", "NetworkInterfaces", Filters=filters)
    return sorted(
        eni["NetworkInterfaceId"]
        for eni in enis
        if str(eni.get("Description", "")).startswith(LAMBDA_ENI_DESCRIPTION)
    )


def wait_for_lambda_enis(ctx: Context, key: str, what: str, filters: list[dict[str, Any]]) -> None:
    """Block until Lambda has released its interfaces in `what`; resumable (a re-run waits again).

    Deleting a security group or subnet an interface still uses fails with DependencyViolation,
    and Lambda releases a deleted function's interfaces in its own time. The wait is bounded by
    the `eni_release_timeout_s` option (default 40 min); how long it took, or what was still
    there at the deadline, is kept in the run's notes and in the error.
    """
    timeout = float(ctx.options.get("eni_release_timeout_s", ENI_RELEASE_TIMEOUT_S))
    interval = float(ctx.options.get("eni_poll_s", ENI_POLL_S))
    started = time.monotonic()
    remaining = lambda_enis(ctx, filters)
    first = list(remaining)
    while remaining:
        waited = time.monotonic() - started
        if waited > timeout:
            _note(ctx, key, what, first, remaining, waited)
            raise TimeoutError(
                f"{len(remaining)} Lambda network interface(s) still in {what} after {waited:.0f} s "
                f"({', '.join(remaining)}); AWS releases them up to 20 minutes after the function is "
                "deleted: run the teardown again to keep waiting"
            )
        ctx.sleep(interval)
        remaining = lambda_enis(ctx, filters)
    if first:
        _note(ctx, key, what, first, [], time.monotonic() - started)


def _note(ctx: Context, key: str, what: str, first: list[str], left: list[str], waited: float) -> None:
    """The run's notes and the step's detail: which interfaces were waited for, how long."""
    if left:
        line = f"waited {waited:.0f} s; still in use in {what}: {', '.join(left)}"
    else:
        line = f"waited {waited:.0f} s for Lambda to release {', '.join(first)} in {what}"
    with ctx._lock:
        notes = ctx.notes.setdefault("eni_release", {})
        notes[what] = {"enis": first, "still_in_use": left, "waited_s": round(waited, 1)}
        ctx.details[key] = "; ".join(filter(None, [ctx.details.get(key, ""), line]))


def retire_vpc_versions(ctx: Context, key: str) -> None:
    """Delete the function's published versions that still run in a VPC, once per run.

    A version freezes its VpcConfig, and Lambda keeps a subnet-and-group combination's interface
    while any version uses it (docs/network.md), so after a switch back to public the versions
    published in vpc mode would hold the subnets and the group for ever. They cannot serve again
    once the network is gone (a rollback to one would put the function back into a deleted
    network), so they go before the wait. Only outside vpc mode: a vpc-mode teardown has deleted
    the function, and every version with it. The alias must have moved off them first (the
    engine runs the network's deletes after it); if it still serves one, that is an error, not a
    40-minute wait for interfaces that cannot be released.
    """
    if vpc_mode(ctx):
        return

    def retire() -> list[str]:
        client, name = ctx.client("lambda"), ctx.names.function
        try:
            versions = list(paged_items(client, "list_versions_by_function", "Versions", FunctionName=name))
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return []  # no function: no version holds anything
            raise
        in_vpc = [
            str(v["Version"])
            for v in versions
            if v.get("Version") != "$LATEST" and ((v.get("VpcConfig") or {}).get("SubnetIds") or [])
        ]
        serving = ctx.attr("alias", "version")
        if serving in in_vpc:
            raise RuntimeError(
                f"alias live still serves version {serving} of {name}, which runs in the VPC: "
                "converge the alias (apply) before the network can go"
            )
        for version in in_vpc:
            with tolerating_absent("ResourceNotFoundException"):
                client.delete_function(FunctionName=name, Qualifier=version)
        return in_vpc

    retired: list[str] = ctx.cached("retired_vpc_versions", retire)
    if retired:
        line = (
            f"deleted version(s) {', '.join(retired)} of {ctx.names.function}, published in vpc mode "
            "(their network interfaces would hold the subnets and the group)"
        )
        with ctx._lock:
            ctx.notes["retired_vpc_versions"] = retired
            if line not in ctx.details.get(key, ""):
                ctx.details[key] = "; ".join(filter(None, [ctx.details.get(key, ""), line]))


def _delete_when_free(
    ctx: Context, key: str, delete: Callable[[], Any], what: str, filters: list[dict[str, Any]]
) -> None:
    """Wait for Lambda's interfaces, then delete; an interface that appears meanwhile (a function
    updated at the same moment) makes EC2 answer DependencyViolation: wait again, once."""
    retire_vpc_versions(ctx, key)
    for attempt in range(2):
        wait_for_lambda_enis(ctx, key, what, filters)
        try:
            delete()
            return
        except Exception as exc:
            code = error_code(exc)
            if code and code.endswith(".NotFound"):
                return
            if code != "DependencyViolation" or attempt == 1:
                raise


class VpcModeResource(Resource):
    """A resource only vpc mode wants (R-NET-1), found by its Name and the ownership tags."""

    ec2_type: ClassVar[str]  # its kind as `network_leftovers` names it: "vpc", "route-table"...

    def wanted(self, ctx: Context) -> bool:
        return vpc_mode(ctx)

    def tagged(self, ctx: Context, describe: str, items: str) -> list[dict[str, Any]]:
        """What EC2's `describe` call lists under `items` with this resource's Name and the
        ownership tags; nothing, without a read, outside vpc mode when none of its kind is left."""
        if absent_outside_vpc_mode(ctx, self.ec2_type):
            return []
        found: list[dict[str, Any]] = getattr(ctx.client("ec2"), describe)(
            Filters=tag_filters(ctx, self.name(ctx))
        )[items]
        return found


def lowest_id(found: list[dict[str, Any]], id_key: str) -> dict[str, Any] | None:
    """The one of `found` with the lowest id, or None: a run that died after its create and the
    re-run can leave two, and every read adopts the same one."""
    return min(found, key=lambda item: item[id_key], default=None)


# --- the VPC ---------------------------------------------------------------------------------------
class Vpc(VpcModeResource):
    """envport's own VPC: DNS support and hostnames on, nothing attached to reach the internet."""

    key = "vpc"
    kind = "ec2-vpc"
    ec2_type = "vpc"

    def name(self, ctx: Context) -> str:
        return f"{ctx.names.base}-vpc"

    def observe(self, ctx: Context) -> Observed | None:
        vpc = lowest_id(self.tagged(ctx, "describe_vpcs", "Vpcs"), "VpcId")
        if vpc is None:
            return None
        ec2 = ctx.client("ec2")
        vid = vpc["VpcId"]
        gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vid]}])
        nats = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vid]}])["NatGateways"]
        state = {
            "CidrBlock": vpc.get("CidrBlock", MISSING),
            "EnableDnsSupport": self._attribute(ctx, vid, "enableDnsSupport"),
            "EnableDnsHostnames": self._attribute(ctx, vid, "enableDnsHostnames"),
            "InternetGateways": sorted(g["InternetGatewayId"] for g in gateways["InternetGateways"]),
            "NatGateways": sorted(
                n["NatGatewayId"] for n in nats if n.get("State") not in ("deleted", "deleting")
            ),
            "tags": ec2_tags(vpc),
        }
        return Observed(state=state, attrs={"id": vid, "cidr": vpc.get("CidrBlock")})

    @staticmethod
    def _attribute(ctx: Context, vid: str, name: str) -> Any:
        answer = ctx.client("ec2").describe_vpc_attribute(VpcId=vid, Attribute=name)
        key = name[0].upper() + name[1:]
        return answer.get(key, {}).get("Value", MISSING)

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "CidrBlock": VPC_CIDR,
            "EnableDnsSupport": True,
            "EnableDnsHostnames": True,
            "InternetGateways": [],
            "NatGateways": [],
            "tags": name_tags(ctx, self.name(ctx)),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        vpc = ctx.client("ec2").create_vpc(
            CidrBlock=VPC_CIDR, TagSpecifications=tag_specs(ctx, "vpc", self.name(ctx))
        )
        vid = vpc["Vpc"]["VpcId"]
        self._dns(ctx, vid, {"EnableDnsSupport", "EnableDnsHostnames"})
        return {"id": vid, "cidr": VPC_CIDR}

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        changed = {d.field for d in diffs}
        vid = observed.attrs["id"]
        if "CidrBlock" in changed:
            raise RuntimeError(
                f"VPC {vid} has CIDR {observed.state['CidrBlock']}, not {VPC_CIDR}: a VPC's primary "
                "CIDR cannot change; tear the environment down and provision it again"
            )
        self._dns(ctx, vid, changed)
        ec2 = ctx.client("ec2")
        if "InternetGateways" in changed:  # R-NET-1: no way to the internet
            for gateway in observed.state["InternetGateways"]:
                ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vid)
        if "NatGateways" in changed:
            for nat in observed.state["NatGateways"]:
                ec2.delete_nat_gateway(NatGatewayId=nat)
        if "tags" in changed:
            retag(ctx, vid, observed.state.get("tags"), desired["tags"])
        return dict(observed.attrs)

    @staticmethod
    def _dns(ctx: Context, vid: str, fields: set[str]) -> None:
        # One attribute per ModifyVpcAttribute call (EC2's rule); support before hostnames.
        for name in ("EnableDnsSupport", "EnableDnsHostnames"):
            if name in fields:
                ctx.client("ec2").modify_vpc_attribute(VpcId=vid, **{name: {"Value": True}})

    def delete(self, ctx: Context, observed: Observed) -> None:
        with tolerating_absent("InvalidVpcID.NotFound"):
            ctx.client("ec2").delete_vpc(VpcId=observed.attrs["id"])

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"vpc_id": attrs.get("id")}


class AdoptedVpc(Resource):
    """An existing VPC named by the environment: read to check it is usable, never changed or deleted."""

    key = "vpc"
    kind = "ec2-vpc (adopted)"
    shared = True  # teardown never touches it (R-NET-4)

    def name(self, ctx: Context) -> str:
        """The VPC the environment names (`vpc_id`)."""
        return str(ctx.spec.settings.vpc_id)

    def observe(self, ctx: Context) -> Observed | None:
        vid = ctx.spec.settings.vpc_id
        vpcs = unless_absent(
            lambda: ctx.client("ec2").describe_vpcs(VpcIds=[vid])["Vpcs"], "InvalidVpcID.NotFound"
        )
        if vpcs is None:
            return None
        if not vpcs:
            return None
        support = Vpc._attribute(ctx, vid, "enableDnsSupport")
        return Observed(
            state={"EnableDnsSupport": support}, attrs={"id": vid, "cidr": vpcs[0].get("CidrBlock")}
        )

    def desired(self, ctx: Context) -> dict[str, Any]:
        # The endpoint's DNS name is resolved by the VPC's resolver (enableDnsSupport).
        return {"EnableDnsSupport": True}

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(f"VPC {ctx.spec.settings.vpc_id} (vpc_id) does not exist in {ctx.region}")

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        raise RuntimeError(
            f"VPC {ctx.spec.settings.vpc_id} has DNS support off; the function cannot resolve DynamoDB's "
            "endpoint there. envport does not change an adopted VPC: turn enableDnsSupport on"
        )

    def delete(self, ctx: Context, observed: Observed) -> None:
        raise AssertionError("an adopted VPC is never deleted")

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"vpc_id": attrs.get("id")}


# --- subnets ---------------------------------------------------------------------------------------
def availability_zones(ctx: Context) -> list[str]:
    """The Region's first Availability Zones (by name) that are available, one per subnet."""

    def read() -> list[str]:
        zones = ctx.client("ec2").describe_availability_zones(
            Filters=[{"Name": "state", "Values": ["available"]}]
        )["AvailabilityZones"]
        names = sorted(
            z["ZoneName"] for z in zones if z.get("ZoneType", "availability-zone") == "availability-zone"
        )
        if len(names) < len(SUBNET_CIDRS):
            raise RuntimeError(
                f"{ctx.region} lists {len(names)} available zone(s); vpc mode needs {len(SUBNET_CIDRS)}"
            )
        return names[: len(SUBNET_CIDRS)]

    zones: list[str] = ctx.cached("availability_zones", read)
    return zones


class Subnets(Resource):
    """One private subnet per Availability Zone, no public IPs on launch."""

    key = "subnets"
    kind = "ec2-subnets"
    depends_on = ("vpc",)

    def names_(self, ctx: Context) -> list[str]:
        return [f"{ctx.names.base}-private-{n}" for n in range(1, len(SUBNET_CIDRS) + 1)]

    def name(self, ctx: Context) -> str:
        return ", ".join(self.names_(ctx))

    def wanted(self, ctx: Context) -> bool:
        return vpc_mode(ctx)

    def _found(self, ctx: Context) -> dict[str, dict[str, Any]]:
        subnets = ctx.client("ec2").describe_subnets(Filters=tag_filters(ctx))["Subnets"]
        by_name: dict[str, dict[str, Any]] = {}
        for subnet in sorted(subnets, key=lambda s: s["SubnetId"]):
            by_name.setdefault(ec2_tags(subnet).get("Name", ""), subnet)
        return by_name

    def observe(self, ctx: Context) -> Observed | None:
        if absent_outside_vpc_mode(ctx, "subnet"):
            return None
        found = self._found(ctx)
        mine = [found[n] for n in self.names_(ctx) if n in found]
        if not mine:
            return None
        state: dict[str, Any] = {}
        for name in self.names_(ctx):
            subnet = found.get(name)
            if subnet is None:
                state[name] = MISSING
                continue
            state[f"{name}.VpcId"] = subnet["VpcId"]
            state[f"{name}.CidrBlock"] = subnet["CidrBlock"]
            state[f"{name}.AvailabilityZone"] = subnet["AvailabilityZone"]
            state[f"{name}.MapPublicIpOnLaunch"] = subnet.get("MapPublicIpOnLaunch", False)
            state[f"{name}.tags"] = ec2_tags(subnet)
        return Observed(state=state, attrs=self._attrs(mine))

    @staticmethod
    def _attrs(subnets: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "ids": [s["SubnetId"] for s in subnets],
            "zones": [s["AvailabilityZone"] for s in subnets],
        }

    def desired(self, ctx: Context) -> dict[str, Any]:
        zones = availability_zones(ctx)
        wanted: dict[str, Any] = {}
        for name, cidr, zone in zip(self.names_(ctx), SUBNET_CIDRS, zones, strict=True):
            wanted[f"{name}.VpcId"] = vpc_id(ctx)
            wanted[f"{name}.CidrBlock"] = cidr
            wanted[f"{name}.AvailabilityZone"] = zone
            wanted[f"{name}.MapPublicIpOnLaunch"] = False
            wanted[f"{name}.tags"] = name_tags(ctx, name)
        return wanted

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        return self._converge(ctx, desired, {})

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        return self._converge(ctx, desired, observed.state)

    def _converge(self, ctx: Context, desired: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        found = self._found(ctx)
        for name in self.names_(ctx):
            subnet = found.get(name)
            if subnet is None:
                subnet = ec2.create_subnet(
                    VpcId=desired[f"{name}.VpcId"],
                    CidrBlock=desired[f"{name}.CidrBlock"],
                    AvailabilityZone=desired[f"{name}.AvailabilityZone"],
                    TagSpecifications=tag_specs(ctx, "subnet", name),
                )["Subnet"]
                found[name] = subnet
                continue
            for fixed in ("VpcId", "CidrBlock", "AvailabilityZone"):
                if subnet.get(fixed) != desired[f"{name}.{fixed}"]:
                    raise RuntimeError(
                        f"subnet {subnet['SubnetId']} ({name}) has {fixed} {subnet.get(fixed)}, not "
                        f"{desired[f'{name}.{fixed}']}, which cannot change: tear down and provision again"
                    )
            if subnet.get("MapPublicIpOnLaunch"):
                ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": False})
            retag(
                ctx, subnet["SubnetId"], state.get(f"{name}.tags", ec2_tags(subnet)), desired[f"{name}.tags"]
            )
        return self._attrs([found[n] for n in self.names_(ctx)])

    def delete(self, ctx: Context, observed: Observed) -> None:
        ec2 = ctx.client("ec2")
        for sid in observed.attrs["ids"]:
            _delete_when_free(
                ctx,
                self.key,
                functools.partial(ec2.delete_subnet, SubnetId=sid),
                f"subnet {sid}",
                [{"Name": "subnet-id", "Values": [sid]}],
            )

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"subnet_ids": attrs.get("ids")}


class AdoptedSubnets(Resource):
    """The subnets named by the environment, in the adopted VPC, in at least two zones; read only."""

    key = "subnets"
    kind = "ec2-subnets (adopted)"
    depends_on = ("vpc",)
    shared = True

    def name(self, ctx: Context) -> str:
        """The subnets the environment names (`subnet_ids`)."""
        return ", ".join(ctx.spec.settings.subnet_ids)

    def observe(self, ctx: Context) -> Observed | None:
        ids = list(ctx.spec.settings.subnet_ids)
        subnets = unless_absent(
            lambda: ctx.client("ec2").describe_subnets(SubnetIds=ids)["Subnets"], "InvalidSubnetID.NotFound"
        )
        if subnets is None:
            return None
        by_id = {s["SubnetId"]: s for s in subnets}
        ordered = [by_id[i] for i in ids if i in by_id]
        zones = sorted({s["AvailabilityZone"] for s in ordered})
        state = {
            "VpcIds": sorted({s["VpcId"] for s in ordered}),
            "AvailabilityZoneCount": len(zones),
        }
        attrs = {
            "ids": [s["SubnetId"] for s in ordered],
            "zones": [s["AvailabilityZone"] for s in ordered],
            "route_table_ids": route_tables_of(
                ctx, ctx.spec.settings.vpc_id, [s["SubnetId"] for s in ordered]
            ),
        }
        return Observed(state=state, attrs=attrs)

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {"VpcIds": [ctx.spec.settings.vpc_id], "AvailabilityZoneCount": len(SUBNET_CIDRS)}

    def diff(self, ctx: Context, desired: dict[str, Any], observed: Observed) -> list[FieldDiff]:
        diffs = super().diff(ctx, desired, observed)
        count = observed.state.get("AvailabilityZoneCount")
        # At least two zones: more is fine.
        return [
            d
            for d in diffs
            if not (d.field == "AvailabilityZoneCount" and isinstance(count, int) and count >= 2)
        ]

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError(
            f"subnets {', '.join(ctx.spec.settings.subnet_ids)} (subnet_ids) do not all exist in {ctx.region}"
        )

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        problems = "; ".join(f"{d.field}: wanted {d.wanted}, found {d.found}" for d in diffs)
        raise RuntimeError(
            f"subnet_ids must all be in VPC {ctx.spec.settings.vpc_id} and span at least two Availability "
            f"Zones ({problems}); envport does not change an adopted VPC's subnets"
        )

    def delete(self, ctx: Context, observed: Observed) -> None:
        raise AssertionError("adopted subnets are never deleted")

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"subnet_ids": attrs.get("ids")}


def route_tables_of(ctx: Context, vid: str, subnets: list[str]) -> list[str]:
    """The route table each subnet uses: its explicit association, else the VPC's main table."""
    tables = ctx.client("ec2").describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vid]}])[
        "RouteTables"
    ]
    explicit: dict[str, str] = {}
    main = None
    for table in tables:
        for assoc in table.get("Associations", []):
            if assoc.get("Main"):
                main = table["RouteTableId"]
            elif assoc.get("SubnetId"):
                explicit[assoc["SubnetId"]] = table["RouteTableId"]
    used = {explicit.get(s, main) for s in subnets}
    return sorted(t for t in used if t)


# --- the route table -------------------------------------------------------------------------------
def describe_route(route: dict[str, Any]) -> str:
    destination = (
        route.get("DestinationCidrBlock")
        or route.get("DestinationIpv6CidrBlock")
        or route.get("DestinationPrefixListId")
    )
    target = next(
        (
            route[k]
            for k in (
                "GatewayId",
                "NatGatewayId",
                "TransitGatewayId",
                "NetworkInterfaceId",
                "VpcPeeringConnectionId",
                "InstanceId",
            )
            if route.get(k)
        ),
        "?",
    )
    return f"{destination} -> {target}"


class RouteTable(VpcModeResource):
    """One private route table for envport's subnets: the local route, and the endpoint's, only."""

    key = "route_table"
    kind = "ec2-route-table"
    ec2_type = "route-table"
    depends_on = ("vpc", "subnets")

    def name(self, ctx: Context) -> str:
        return f"{ctx.names.base}-private"

    def observe(self, ctx: Context) -> Observed | None:
        table = lowest_id(self.tagged(ctx, "describe_route_tables", "RouteTables"), "RouteTableId")
        if table is None:
            return None
        associations = {
            a["SubnetId"]: a["RouteTableAssociationId"]
            for a in table.get("Associations", [])
            if a.get("SubnetId")
        }
        routes = [
            describe_route(r)
            for r in table.get("Routes", [])
            if r.get("GatewayId") != "local" and not str(r.get("GatewayId", "")).startswith("vpce-")
        ]
        state = {"Associations": sorted(associations), "Routes": sorted(routes), "tags": ec2_tags(table)}
        attrs = {"id": table["RouteTableId"], "ids": [table["RouteTableId"]], "associations": associations}
        return Observed(state=state, attrs=attrs)

    def desired(self, ctx: Context) -> dict[str, Any]:
        subnets = subnet_ids(ctx)
        return {
            "Associations": UNKNOWN if subnets == UNKNOWN else sorted(subnets),
            # R-NET-1: no 0.0.0.0/0, no NAT, no internet gateway; the endpoint's route is its own field.
            "Routes": [],
            "tags": name_tags(ctx, self.name(ctx)),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        table = ctx.client("ec2").create_route_table(
            VpcId=vpc_id(ctx), TagSpecifications=tag_specs(ctx, "route-table", self.name(ctx))
        )["RouteTable"]
        observed = Observed(
            state={"Associations": [], "Routes": [], "tags": desired["tags"]},
            attrs={"id": table["RouteTableId"], "ids": [table["RouteTableId"]], "associations": {}},
        )
        return self.update(ctx, desired, observed, self.diff(ctx, desired, observed))

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        rtb = observed.attrs["id"]
        associations = dict(observed.attrs.get("associations", {}))
        wanted = set(desired["Associations"]) if desired["Associations"] != UNKNOWN else set(associations)
        for subnet in sorted(wanted - set(associations)):
            associations[subnet] = self._associate(ctx, rtb, subnet)
        for subnet in sorted(set(associations) - wanted):
            ec2.disassociate_route_table(AssociationId=associations.pop(subnet))
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        for route in table.get("Routes", []):
            if route.get("GatewayId") == "local" or str(route.get("GatewayId", "")).startswith("vpce-"):
                continue
            key = {
                k: route[k]
                for k in ("DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
                if route.get(k)
            }
            ec2.delete_route(RouteTableId=rtb, **key)
        if any(d.field == "tags" for d in diffs):
            retag(ctx, rtb, observed.state.get("tags"), desired["tags"])
        return {"id": rtb, "ids": [rtb], "associations": associations}

    @staticmethod
    def _associate(ctx: Context, rtb: str, subnet: str) -> str:
        """Associate, or move the subnet over from another table (a subnet has one association)."""
        ec2 = ctx.client("ec2")
        current = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
            "RouteTables"
        ]
        for table in current:
            for assoc in table.get("Associations", []):
                if assoc.get("SubnetId") == subnet:
                    answer = ec2.replace_route_table_association(
                        AssociationId=assoc["RouteTableAssociationId"], RouteTableId=rtb
                    )
                    return str(answer["NewAssociationId"])
        return str(ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)["AssociationId"])

    def delete(self, ctx: Context, observed: Observed) -> None:
        ec2 = ctx.client("ec2")
        for association in observed.attrs.get("associations", {}).values():
            with tolerating_absent("InvalidAssociationID.NotFound"):
                ec2.disassociate_route_table(AssociationId=association)
        with tolerating_absent("InvalidRouteTableID.NotFound"):
            ec2.delete_route_table(RouteTableId=observed.attrs["id"])

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"route_table_ids": attrs.get("ids")}


def route_table_ids(ctx: Context) -> Any:
    """The tables the endpoint goes on: envport's one, or those the adopted subnets use."""
    if adopted(ctx):
        return ctx.attr("subnets", "route_table_ids")
    return ctx.attr("route_table", "ids")
