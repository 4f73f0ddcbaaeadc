"""The function's security group in vpc mode (R-NET-1): HTTPS out to DynamoDB only, nothing in.

A new group comes with an allow-all egress rule; it is revoked, and the one rule left allows TCP
443 to the Region's DynamoDB prefix list (the address ranges the gateway endpoint routes), the
pattern of https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html#gateway-endpoint-security.
No interface endpoint is needed by the function (docs/network.md), so there is no rule towards
one. No ingress: nothing calls into a Lambda function's network interface.

Rules are compared as short strings (`tcp 443-443 -> pl-…`), so drift names the rule that was
added or removed, and an update revokes exactly the extra rules and authorizes the missing ones.
"""

from __future__ import annotations

from typing import Any

from ..aws import error_code
from .base import MISSING, UNKNOWN, Context, FieldDiff, Observed
from .network import (
    VpcModeResource,
    _delete_when_free,
    ec2_tags,
    lowest_id,
    name_tags,
    retag,
    tag_specs,
    vpc_id,
)

HTTPS = 443


def dynamodb_service(ctx: Context) -> str:
    return f"com.amazonaws.{ctx.region}.dynamodb"


def dynamodb_prefix_list(ctx: Context) -> str:
    """The Region's DynamoDB prefix list id, looked up by name on every run (ids differ by Region)."""

    def read() -> str:
        lists = ctx.client("ec2").describe_managed_prefix_lists(
            Filters=[{"Name": "prefix-list-name", "Values": [dynamodb_service(ctx)]}]
        )["PrefixLists"]
        if not lists:
            raise RuntimeError(f"no managed prefix list {dynamodb_service(ctx)} in {ctx.region}")
        return str(lists[0]["PrefixListId"])

    pl: str = ctx.cached("dynamodb_prefix_list", read)
    return pl


def rule_strings(permissions: list[dict[str, Any]]) -> list[str]:
    """Each (protocol, ports, one target) of IpPermissions as `tcp 443-443 -> target`."""
    rules: list[str] = []
    for perm in permissions:
        protocol = str(perm.get("IpProtocol"))
        ports = "all" if protocol == "-1" else f"{perm.get('FromPort')}-{perm.get('ToPort')}"
        head = f"{'all' if protocol == '-1' else protocol} {ports}"
        targets = [r["CidrIp"] for r in perm.get("IpRanges", [])]
        targets += [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
        targets += [r["PrefixListId"] for r in perm.get("PrefixListIds", [])]
        targets += [r["GroupId"] for r in perm.get("UserIdGroupPairs", [])]
        rules.extend(f"{head} -> {target}" for target in targets)
    return sorted(rules)


def rule_permission(rule: str) -> dict[str, Any]:
    """The IpPermissions entry of one rule string (to authorize or revoke exactly it)."""
    head, target = rule.split(" -> ")
    protocol, ports = head.split(" ")
    perm: dict[str, Any] = {"IpProtocol": "-1" if protocol == "all" else protocol}
    if ports != "all":
        low, high = ports.split("-")
        perm.update(FromPort=int(low), ToPort=int(high))
    if target.startswith("pl-"):
        perm["PrefixListIds"] = [{"PrefixListId": target}]
    elif target.startswith("sg-"):
        perm["UserIdGroupPairs"] = [{"GroupId": target}]
    elif ":" in target:
        perm["Ipv6Ranges"] = [{"CidrIpv6": target}]
    else:
        perm["IpRanges"] = [{"CidrIp": target}]
    return perm


class FunctionSecurityGroup(VpcModeResource):
    key = "security_group"
    kind = "ec2-security-group"
    ec2_type = "security-group"
    depends_on = ("vpc",)

    def name(self, ctx: Context) -> str:
        return f"{ctx.names.base}-function"

    def observe(self, ctx: Context) -> Observed | None:
        group = lowest_id(self.tagged(ctx, "describe_security_groups", "SecurityGroups"), "GroupId")
        if group is None:
            return None
        state = {
            "VpcId": group.get("VpcId", MISSING),
            "Ingress": rule_strings(group.get("IpPermissions", [])),
            "Egress": rule_strings(group.get("IpPermissionsEgress", [])),
            "tags": ec2_tags(group),
        }
        return Observed(state=state, attrs={"id": group["GroupId"], "vpc_id": group.get("VpcId")})

    def desired(self, ctx: Context) -> dict[str, Any]:
        return {
            "VpcId": vpc_id(ctx),
            "Ingress": [],
            "Egress": [f"tcp {HTTPS}-{HTTPS} -> {dynamodb_prefix_list(ctx)}"],
            "tags": name_tags(ctx, self.name(ctx)),
        }

    def create(self, ctx: Context, desired: dict[str, Any]) -> dict[str, Any]:
        if desired["VpcId"] == UNKNOWN:
            raise RuntimeError("the VPC must exist before its security group")
        group = ctx.client("ec2").create_security_group(
            GroupName=self.name(ctx),
            Description=f"Lambda function {ctx.names.function}: HTTPS to DynamoDB only (envport)",
            VpcId=desired["VpcId"],
            TagSpecifications=tag_specs(ctx, "security-group", self.name(ctx)),
        )
        gid = group["GroupId"]
        observed = self.observe(ctx) or Observed(state={}, attrs={"id": gid, "vpc_id": desired["VpcId"]})
        return self.update(ctx, desired, observed, self.diff(ctx, desired, observed))

    def update(
        self, ctx: Context, desired: dict[str, Any], observed: Observed, diffs: list[FieldDiff]
    ) -> dict[str, Any]:
        ec2 = ctx.client("ec2")
        gid = observed.attrs["id"]
        changed = {d.field for d in diffs}
        if "VpcId" in changed:
            raise RuntimeError(
                f"security group {gid} is in VPC {observed.state.get('VpcId')}, not {desired['VpcId']}: "
                "a group cannot move; delete it and provision again"
            )
        for direction, revoke, authorize in (
            ("Ingress", ec2.revoke_security_group_ingress, ec2.authorize_security_group_ingress),
            ("Egress", ec2.revoke_security_group_egress, ec2.authorize_security_group_egress),
        ):
            have, want = set(observed.state.get(direction, [])), set(desired[direction])
            extra, missing = sorted(have - want), sorted(want - have)
            if extra:  # first: the default allow-all egress must go before anything else
                revoke(GroupId=gid, IpPermissions=[rule_permission(r) for r in extra])
            if missing:
                authorize(GroupId=gid, IpPermissions=[rule_permission(r) for r in missing])
        if "tags" in changed:
            retag(ctx, gid, observed.state.get("tags"), desired["tags"])
        return dict(observed.attrs)

    def delete(self, ctx: Context, observed: Observed) -> None:
        """After the function is gone, Lambda still holds interfaces in the group for a while."""
        gid = observed.attrs["id"]
        try:
            _delete_when_free(
                ctx,
                self.key,
                lambda: ctx.client("ec2").delete_security_group(GroupId=gid),
                f"security group {gid}",
                [{"Name": "group-id", "Values": [gid]}],
            )
        except Exception as exc:
            if error_code(exc) != "InvalidGroup.NotFound":
                raise

    def outputs(self, ctx: Context, attrs: dict[str, Any]) -> dict[str, Any]:
        return {"security_group_id": attrs.get("id")}
