"""Whether a function in a VPC can reach the service it calls: the network half of its calls.

On AWS a function attached to a VPC sends every call through its Hyperplane interface in one of
its subnets, and nothing reaches the internet unless the VPC gives it a way
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc-internet.html). For DynamoDB
without a NAT that way is a gateway endpoint
(https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html): a call gets through
only when

1. the route table of the subnet has the endpoint's route for the Region's DynamoDB prefix list
   (the endpoint is associated with that table and is available),
2. a security group of the function allows TCP 443 out to that prefix list (or to CIDRs that
   cover it) (https://docs.aws.amazon.com/vpc/latest/privatelink/gateway-endpoints.html#gateway-endpoint-security),
3. the endpoint's policy allows the action on the resource
   (https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html), evaluated by
   ``iam_policy`` on the statements whose ``Principal`` is ``*`` (or names the role or account).

Every subnet of the function is checked: Lambda may run an invocation from any of them, so a
subnet without the route fails some calls on AWS and all of them here. A call to any other
service from a function in a VPC needs an interface endpoint of that service in the VPC with
private DNS; its policy is evaluated the same way (its security-group path is not modelled).

When the path is missing the call is not refused: on AWS the TCP connection is never answered
and the SDK's connect attempts run until the function's timeout. ``hold`` models that: the
request is held for the function's timeout (plus a second), so the runtime reports
``Task timed out`` and the gateway answers 502 as for any timeout.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.ec2.lambda_vpc import vpc_config_of
from localcloud.iam import policy as iam_policy

HTTPS = 443


def _function(account_id: str, region: str, name: str) -> Any:
    from moto.awslambda.models import lambda_backends

    try:
        return lambda_backends[account_id][region].get_function(name)
    except Exception:
        return None


def _ec2(account_id: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _route_table(ec2: Any, subnet: Any) -> Any:
    main = None
    for table in list(ec2.route_tables.values()):
        if table.vpc_id != subnet.vpc_id:
            continue
        if subnet.id in table._associations.values():
            return table
        if table.main_association_id is not None:
            main = table
    return main


def _gateway_endpoints(ec2: Any, table: Any, prefix_list_id: str) -> list[Any]:
    """Available gateway endpoints whose route for `prefix_list_id` is in `table`."""
    found = []
    for route in list(table._routes.values()):
        destination = getattr(route, "destination_prefix_list", None)
        gateway: Any = getattr(route, "gateway", None)
        if destination is None or getattr(destination, "id", None) != prefix_list_id:
            continue
        is_endpoint = gateway is not None and str(getattr(gateway, "id", "")).startswith("vpce-")
        if is_endpoint and str(getattr(gateway, "state", "")).lower() == "available":
            found.append(gateway)
    return found


def _prefix_list(ec2: Any, service_name: str) -> Any:
    for prefix_list in list(ec2.managed_prefix_lists.values()):
        if prefix_list.prefix_list_name == service_name:
            return prefix_list
    return None


def _prefix_cidrs(prefix_list: Any) -> list[str]:
    entries = prefix_list.entries.get(prefix_list.version) or []
    return [str(entry.get("Cidr")) for entry in entries if entry.get("Cidr")]


def _egress_allows(ec2: Any, group_ids: Iterable[str], prefix_list: Any) -> bool:
    cidrs = [ipaddress.ip_network(c) for c in _prefix_cidrs(prefix_list)]
    for group_id in group_ids:
        group = ec2.get_security_group_from_id(group_id)
        for rule in list(getattr(group, "egress_rules", []) or []):
            protocol = str(rule.ip_protocol)
            if protocol not in ("-1", "tcp", "6"):
                continue
            if protocol != "-1" and not (
                rule.from_port is not None and rule.from_port <= HTTPS <= (rule.to_port or rule.from_port)
            ):
                continue
            if rule.prefix_list_id == prefix_list.id:
                return True
            cidr = rule.ip_range.get("CidrIp") if rule.ip_range else None
            if cidr and cidrs and all(c.subnet_of(ipaddress.ip_network(cidr)) for c in cidrs):  # type: ignore[arg-type]
                return True
    return False


def _principal_applies(statement: Mapping[str, Any], role_arn: str, account_id: str) -> bool:
    if "NotPrincipal" in statement:
        return False  # not modelled: such a statement grants nothing here (deny-safe for Allow)
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        names = principal.get("AWS")
        values = names if isinstance(names, list) else [names]
        root = f"arn:aws:iam::{account_id}:root"
        return any(v in ("*", role_arn, account_id, root) for v in values if v is not None)
    return False


def endpoint_allows(
    endpoint: Any, pairs: list[tuple[str, str]], role_arn: str, account_id: str, context: Mapping[str, Any]
) -> tuple[str, str] | None:
    """The first (action, resource) the endpoint's policy does not allow, or None."""
    try:
        policy = json.loads(endpoint.policy_document or "{}")
    except ValueError:
        return pairs[0] if pairs else ("*", "*")
    statements = [s for s in iam_policy.statements([policy]) if _principal_applies(s, role_arn, account_id)]
    for action, resource in pairs:
        if not iam_policy.evaluate([{"Statement": statements}], action, resource, context).allowed:
            return action, resource
    return None


def blocked(
    account_id: str,
    region: str,
    function_name: str,
    role_arn: str,
    service: str,
    pairs: list[tuple[str, str]],
    context: Mapping[str, Any],
) -> str | None:
    """Why the function's call to `service` cannot get through its VPC, or None when it can (or the
    function is not in a VPC)."""
    fn = _function(account_id, region, function_name)
    if fn is None:
        return None
    subnet_ids, group_ids = vpc_config_of(fn)
    if not subnet_ids:
        return None
    ec2 = _ec2(account_id, region)
    call = _Call(f"com.amazonaws.{region}.{service}", pairs, role_arn, account_id, context)
    if service in ("dynamodb", "s3"):
        return _gateway_path(ec2, subnet_ids, group_ids, call)
    return _interface_path(ec2, subnet_ids, call)


@dataclass(frozen=True)
class _Call:
    """The function's call to a service, as the endpoints on its way judge it."""

    service_name: str
    pairs: list[tuple[str, str]]
    role_arn: str
    account_id: str
    context: Mapping[str, Any]

    def refusal(self, endpoint: Any) -> str | None:
        """Why the endpoint's policy refuses the call, or None when it allows it."""
        refused = endpoint_allows(endpoint, self.pairs, self.role_arn, self.account_id, self.context)
        if refused is None:
            return None
        return f"the policy of endpoint {endpoint.id} does not allow {refused[0]} on {refused[1]}"


def _gateway_path(ec2: Any, subnet_ids: list[str], group_ids: list[str], call: _Call) -> str | None:
    service_name = call.service_name
    prefix_list = _prefix_list(ec2, service_name)
    if prefix_list is None:
        return f"no prefix list {service_name}"
    for subnet_id in subnet_ids:
        try:
            subnet = ec2.get_subnet(subnet_id)
        except Exception:
            return f"subnet {subnet_id} is gone"
        table = _route_table(ec2, subnet)
        endpoints = _gateway_endpoints(ec2, table, prefix_list.id) if table is not None else []
        if not endpoints:
            return (
                f"the route table of subnet {subnet_id} has no route to {prefix_list.id} through a gateway "
                f"endpoint for {service_name}"
            )
        for endpoint in endpoints:
            refusal = call.refusal(endpoint)
            if refusal is not None:
                return refusal
    if not _egress_allows(ec2, group_ids, prefix_list):
        return f"no security group of the function allows TCP {HTTPS} out to {prefix_list.id}"
    return None


def _interface_path(ec2: Any, subnet_ids: list[str], call: _Call) -> str | None:
    service_name = call.service_name
    vpc_id = ec2.get_subnet(subnet_ids[0]).vpc_id
    for endpoint in list(ec2.vpc_end_points.values()):
        if (
            endpoint.vpc_id == vpc_id
            and endpoint.service_name == service_name
            and str(endpoint.vpc_endpoint_type or "").lower() == "interface"
            and str(endpoint.state).lower() == "available"
            and endpoint.private_dns_enabled
        ):
            return call.refusal(endpoint)
    return (
        f"VPC {vpc_id} has no interface endpoint with private DNS for {service_name} (and no NAT is modelled)"
    )


def hold(account_id: str, region: str, function_name: str) -> None:
    """Keep the call unanswered until the function has timed out, as an unanswered connect does."""
    fn = _function(account_id, region, function_name)
    timeout = float(getattr(fn, "timeout", 3) or 3)
    time.sleep(timeout + 1.0)
