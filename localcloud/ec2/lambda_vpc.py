"""Fidelity fixes for Lambda in a VPC and the EC2 calls around it (moto-5.2.5-next.md item 7).

moto 5.2.5 stores a function's ``VpcConfig`` and answers a hard-coded ``VpcId: vpc-123abc``; it
accepts subnets and security groups that do not exist, creates no network interface, lets a
security group or subnet be deleted while something uses it, ignores ``ResetPolicy`` on an
endpoint, and neither adds nor removes an endpoint's routes when its route tables change. The
fixes below make these follow AWS:

- ``VpcConfig.VpcId`` is the VPC of the function's subnets; CreateFunction and
  UpdateFunctionConfiguration refuse subnets or groups that do not exist, or that are not in one
  VPC, with ``InvalidParameterValueException``
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html).
- Hyperplane ENIs (https://docs.aws.amazon.com/lambda/latest/dg/foundation-networking.html): one
  requester-managed interface (``InterfaceType: lambda``, description ``AWS Lambda VPC ENI-<function>``)
  per subnet and security-group combination, shared by every function of the account that uses it.
  When no function uses a combination any more (deleted, or its VpcConfig changed or removed), its
  interface is released ``RELEASE_DELAY_S`` seconds later (AWS: "up to 20 minutes",
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#vpc-lambda-deleting). The
  delay comes from ``LOCALCLOUD_LAMBDA_ENI_RELEASE_S`` (default 2 s, so that tests can watch a
  teardown wait; set it higher to rehearse a slow release).
- DeleteSecurityGroup and DeleteSubnet while a network interface uses the group or subnet answer
  ``DependencyViolation`` (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
- ModifyVpcEndpoint ``ResetPolicy=true`` restores the full-access default policy, and
  ``AddRouteTableIds``/``RemoveRouteTableIds`` add and remove a gateway endpoint's prefix-list route
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVpcEndpoint.html,
  https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html#gateway-endpoint-routing).

- DeleteVpc, DeleteSubnet, DeleteSecurityGroup, DeleteRouteTable and DeleteVpcEndpoints take the
  resource's tags with it, so DescribeTags no longer lists them ("If you delete a resource, any
  tags for the resource are also deleted",
  https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html); moto kept them for ever.

Interfaces are reconciled lazily and without threads: after every change to a function and
before every EC2 call that can see them (DescribeNetworkInterfaces, DeleteSecurityGroup,
DeleteSubnet), ``sync`` compares the account's functions with the Lambda interfaces and creates,
marks unused, or deletes. Registered in ``localcloud.fidelity.FIXES`` like every other fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.awslambda import models as lambda_models
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import elastic_network_interfaces as eni_models
from moto.ec2.models import route_tables as route_table_models
from moto.ec2.models import security_groups as sg_models
from moto.ec2.models import subnets as subnet_models
from moto.ec2.models import vpcs as vpc_models
from moto.ec2.responses.vpcs import VPCs
from moto.ec2.utils import random_private_ip

from localcloud.registry import MARK, around, fixer, patch

_fix = fixer(__name__)

__all__ = ["ENI_DESCRIPTION", "RELEASE_DELAY_S", "lambda_enis", "sync", "vpc_config_of"]

ENI_DESCRIPTION = "AWS Lambda VPC ENI"
ENI_INTERFACE_TYPE = "lambda"
REQUESTER_ID = "AROAIKWHKGMLOCALCLOUD:lambda"  # AWS names its Lambda service role here
RELEASE_DELAY_S = float(os.environ.get("LOCALCLOUD_LAMBDA_ENI_RELEASE_S", "2"))
_UNUSED_SINCE = "_localcloud_unused_since"
_LOCK = threading.RLock()

Combo = tuple[str, tuple[str, ...]]  # (subnet id, sorted security group ids)


def _ec2(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def vpc_config_of(fn: Any) -> tuple[list[str], list[str]]:
    """(subnet ids, security group ids) of a moto function; empty lists outside any VPC."""
    config = getattr(fn, "_vpc_config", None) or {}
    return list(config.get("SubnetIds") or []), list(config.get("SecurityGroupIds") or [])


def _functions(account_id: str, region: str) -> list[Any]:
    from moto.awslambda.models import lambda_backends

    try:
        storage = lambda_backends[account_id][region]._lambdas
    except KeyError:
        return []
    found: list[Any] = []
    for entry in list(storage._functions.values()):
        found.extend(fn for fn in [entry.get("latest"), *entry.get("versions", [])] if fn is not None)
    return found


def lambda_enis(ec2: Any) -> list[Any]:
    return [
        eni for eni in list(ec2.enis.values()) if getattr(eni, "interface_type", "") == ENI_INTERFACE_TYPE
    ]


def sync(account_id: str, region: str, now: float | None = None) -> None:
    """Make the account's Lambda interfaces follow its functions' VpcConfigs (see the module doc)."""
    now = time.monotonic() if now is None else now
    with _LOCK:
        ec2 = _ec2(account_id, region)
        wanted: dict[Combo, str] = {}
        for fn in _functions(account_id, region):
            subnets, groups = vpc_config_of(fn)
            if not subnets or not groups:
                continue
            for subnet in subnets:
                wanted.setdefault((subnet, tuple(sorted(groups))), fn.function_name)
        have: dict[Combo, Any] = {}
        for eni in lambda_enis(ec2):
            combo = (eni.subnet.id, tuple(sorted(g.id for g in eni._group_set)))
            if combo in wanted and combo not in have:
                have[combo] = eni
                setattr(eni, _UNUSED_SINCE, None)
                continue
            since = getattr(eni, _UNUSED_SINCE, None)
            if since is None:
                setattr(eni, _UNUSED_SINCE, now)
            elif now - since >= RELEASE_DELAY_S:
                ec2.enis.pop(eni.id, None)
        for combo, function_name in wanted.items():
            if combo not in have:
                _create_eni(ec2, combo, function_name)


def _create_eni(ec2: Any, combo: Combo, function_name: str) -> None:
    subnet_id, groups = combo
    try:
        subnet = ec2.get_subnet(subnet_id)
    except Exception:
        return  # deleted under the function: AWS marks the function inactive; nothing to attach
    eni = ec2.create_network_interface(
        subnet,
        random_private_ip(subnet.cidr_block),
        group_ids=list(groups),
        description=f"{ENI_DESCRIPTION}-{function_name}",
    )
    eni.requester_managed = True
    eni.requester_id = REQUESTER_ID
    eni.interface_type = ENI_INTERFACE_TYPE
    setattr(eni, _UNUSED_SINCE, None)


def _check_vpc_config(account_id: str, region: str, config: Any) -> None:
    """AWS's checks of a VpcConfig: the subnets and groups exist and are in one VPC."""
    if not config:
        return
    subnets = list(config.get("SubnetIds") or [])
    groups = list(config.get("SecurityGroupIds") or [])
    if not subnets and not groups:
        return
    ec2 = _ec2(account_id, region)
    vpcs = set()
    for subnet_id in subnets:
        try:
            vpcs.add(ec2.get_subnet(subnet_id).vpc_id)
        except Exception:
            raise InvalidParameterValueException(
                "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. EC2 Error "
                f"Message: The subnet ID '{subnet_id}' does not exist"
            ) from None
    for group_id in groups:
        group = ec2.get_security_group_from_id(group_id)
        if group is None:
            raise InvalidParameterValueException(
                "Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. "
                f"EC2 Error Message: The security group '{group_id}' does not exist"
            )
        vpcs.add(group.vpc_id)
    if len(vpcs) > 1:
        raise InvalidParameterValueException(
            "Security groups and subnets must all belong to the same VPC; found " + ", ".join(sorted(vpcs))
        )
    if not subnets or not groups:
        raise InvalidParameterValueException(
            "VpcConfig needs both SubnetIds and SecurityGroupIds, or neither"
        )


class _VpcConfigProperty(property):
    """A property that can carry the fix marker (plain property objects take no attributes)."""


@_fix(
    "lambda-vpc-config",
    "VpcConfig answers VpcId 'vpc-123abc' whatever the subnets; subnets and security groups that do "
    "not exist are accepted; no network interface is created or released.",
    "VpcConfig.VpcId is the subnets' VPC; unknown or mixed-VPC subnets and groups answer "
    "InvalidParameterValueException; one requester-managed Hyperplane ENI per subnet and group "
    "combination, released RELEASE_DELAY_S after no function uses it.",
)
def _fix_lambda_vpc() -> None:
    """Wraps moto's ``vpc_config``, ``put_function``, ``del_function`` and ``update_configuration``."""

    def make_property(orig: Any) -> Any:
        def vpc_config(self: Any) -> dict[str, Any] | None:
            subnets, groups = vpc_config_of(self)
            if not getattr(self, "_vpc_config", None):
                return None
            vpc_id = ""
            if subnets:
                try:
                    vpc_id = _ec2(self.account_id, self.region).get_subnet(subnets[0]).vpc_id
                except Exception:
                    vpc_id = ""
            return {"SubnetIds": subnets, "SecurityGroupIds": groups, "VpcId": vpc_id}

        return _VpcConfigProperty(vpc_config)

    @around(lambda_models.LambdaStorage, "put_function")
    def put_function(orig: Callable[..., Any], self: Any, fn: Any) -> None:
        _check_vpc_config(fn.account_id, fn.region, getattr(fn, "_vpc_config", None))
        orig(self, fn)
        sync(fn.account_id, fn.region)

    @around(lambda_models.LambdaStorage, "del_function")
    def del_function(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> None:
        orig(self, *args, **kwargs)
        sync(self.account_id, self.region_name)

    # update_configuration already carries fidelity's "lambda-function-configuration" fix, which
    # carries registry.MARK: this one wraps it, under a marker of its own.
    @around(lambda_models.LambdaFunction, "update_configuration", markers=("_localcloud_vpc_update", MARK))
    def update_configuration(
        orig: Callable[..., Any], self: Any, config_updates: dict[str, Any]
    ) -> dict[str, Any]:
        if "VpcConfig" in config_updates:
            _check_vpc_config(self.account_id, self.region, config_updates["VpcConfig"])
        result: dict[str, Any] = orig(self, config_updates)
        sync(self.account_id, self.region)
        return result

    patch(lambda_models.LambdaFunction, "vpc_config", make_property)


@_fix(
    "ec2-dependency-violation",
    "DeleteSecurityGroup and DeleteSubnet succeed while a network interface (a Lambda function's) "
    "still uses the group or subnet.",
    "Both answer DependencyViolation until the interfaces are gone; DescribeNetworkInterfaces shows "
    "Lambda's interfaces.",
)
def _fix_dependency_violation() -> None:
    """Wraps EC2's describe and delete of interfaces, groups and subnets; ``sync`` runs first."""

    @around(eni_models.NetworkInterfaceBackend, "get_all_network_interfaces")
    def get_all_network_interfaces(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
        sync(self.account_id, self.region_name)
        return orig(self, *args, **kwargs)

    @around(sg_models.SecurityGroupBackend, "delete_security_group")
    def delete_security_group(
        orig: Callable[..., Any], self: Any, name: str | None = None, group_id: str | None = None
    ) -> None:
        sync(self.account_id, self.region_name)
        target = group_id or (self.get_security_group_by_name_or_id(name).id if name else None)
        if target and any(target in {g.id for g in eni._group_set} for eni in list(self.enis.values())):
            raise DependencyViolationError(f"resource {target} has a dependent object")
        return orig(self, name=name, group_id=group_id)  # type: ignore[no-any-return]

    @around(subnet_models.SubnetBackend, "delete_subnet")
    def delete_subnet(orig: Callable[..., Any], self: Any, subnet_id: str) -> Any:
        sync(self.account_id, self.region_name)
        if any(eni.subnet.id == subnet_id for eni in list(self.enis.values())):
            raise DependencyViolationError(
                f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
            )
        return orig(self, subnet_id)


@_fix(
    "ec2-vpc-endpoint-modify",
    "ModifyVpcEndpoint ignores ResetPolicy, and AddRouteTableIds/RemoveRouteTableIds change the "
    "endpoint's list without adding or removing its route.",
    "ResetPolicy restores the default full-access policy; a gateway endpoint's prefix-list route is "
    "added to and removed from the route tables with its associations.",
)
def _fix_endpoint_modify() -> None:
    """Wraps the backend keeps routes in step with route tables; the response reads ``ResetPolicy``."""

    @around(vpc_models.VPCBackend, "modify_vpc_endpoint")
    def modify_vpc_endpoint(
        orig: Callable[..., Any], self: Any, vpc_id: str, *args: Any, **kwargs: Any
    ) -> None:
        endpoint = self.describe_vpc_endpoints(vpc_end_point_ids=[vpc_id])[0]
        before = set(endpoint.route_table_ids or [])
        orig(self, vpc_id, *args, **kwargs)
        after = set(endpoint.route_table_ids or [])
        prefix_list = endpoint.destination_prefix_list_id
        if not prefix_list or str(endpoint.vpc_endpoint_type or "gateway").lower() != "gateway":
            return
        for table in sorted(after - before):
            self.create_route(table, None, gateway_id=endpoint.id, destination_prefix_list_id=prefix_list)
        for table in sorted(before - after):
            with contextlib.suppress(Exception):  # a route removed by hand: the association goes anyway
                self.delete_route(table, prefix_list)

    @around(VPCs, "modify_vpc_endpoint")
    def modify_vpc_endpoint_response(orig: Callable[..., Any], self: Any) -> Any:
        result = orig(self)
        if str(self._get_param("ResetPolicy", "")).lower() == "true":
            endpoint = self.ec2_backend.describe_vpc_endpoints(
                vpc_end_point_ids=[self._get_param("VpcEndpointId")]
            )[0]
            endpoint.policy_document = json.dumps(vpc_models.VPCEndPoint.DEFAULT_POLICY)
        return result


@_fix(
    "ec2-tags-of-deleted-resources",
    "DescribeTags keeps listing the tags of a deleted VPC, subnet, security group, route table or "
    "VPC endpoint.",
    "Deleting one of them deletes its tags, as EC2 does.",
)
def _fix_tags_of_deleted() -> None:
    """Wraps the five deletes (after any other fix on them) to drop the resource's tags."""

    def dropping(ids_of: Callable[..., list[str]]) -> Callable[..., Any]:
        def delete(orig: Callable[..., Any], self: Any, *args: Any, **kwargs: Any) -> Any:
            ids = ids_of(self, *args, **kwargs)
            result = orig(self, *args, **kwargs)
            for resource_id in ids:
                self.tags.pop(resource_id, None)
            return result

        return delete

    def group_ids(self: Any, name: str | None = None, group_id: str | None = None) -> list[str]:
        if group_id:
            return [group_id]
        group = self.get_security_group_by_name_or_id(name) if name else None
        return [group.id] if group is not None else []

    # Each of these may carry another fix already (and registry.MARK): a marker of their own.
    stacked = ("_localcloud_drops_tags", MARK)
    around(vpc_models.VPCBackend, "delete_vpc", markers=stacked)(dropping(lambda _s, vpc_id: [vpc_id]))
    around(subnet_models.SubnetBackend, "delete_subnet", markers=stacked)(
        dropping(lambda _s, subnet_id: [subnet_id])
    )
    around(sg_models.SecurityGroupBackend, "delete_security_group", markers=stacked)(dropping(group_ids))
    around(route_table_models.RouteBackend, "delete_route_table", markers=stacked)(
        dropping(lambda _s, route_table_id: [route_table_id])
    )
    around(vpc_models.VPCBackend, "delete_vpc_endpoints", markers=stacked)(
        dropping(lambda _s, vpce_ids=None: list(vpce_ids or []))
    )
