"""Every resource named, in every mode: the inventory the console and the CLI read (issue 18)."""

from __future__ import annotations

from typing import Any

import pytest

from provisioning.engine import Engine
from provisioning.inventory import ACCOUNT_PLACEHOLDER, inventory, names_by_key
from provisioning.resources import resources_for
from provisioning.spec import AUTH_MODES, NETWORK_MODES, EnvironmentSpec, build_spec

ADOPTED = {"vpc_id": "vpc-0123456789abcdef0", "subnet_ids": "subnet-0123456789abcdef0, subnet-11111111"}
NETWORKS: list[dict[str, Any]] = [{"network": mode} for mode in NETWORK_MODES] + [
    {"network": "vpc", **ADOPTED}
]


def spec_of(**overrides: Any) -> EnvironmentSpec:
    return build_spec(suffix="dev1", stage="dev", overrides=overrides)


@pytest.mark.parametrize("network", NETWORKS, ids=lambda n: "adopted" if "vpc_id" in n else n["network"])
@pytest.mark.parametrize("auth", AUTH_MODES)
def test_every_resource_has_a_name_in_every_mode(auth: str, network: dict[str, Any]) -> None:
    """Issue 18: the resource protocol tells every resource's AWS name, whatever the modes."""
    spec = spec_of(auth=auth, **network)
    items = inventory(spec)
    assert [item.key for item in items] == [r.key for r in resources_for(spec)]
    unnamed = [item.key for item in items if not item.name.strip()]
    assert unnamed == []
    # Names are the environment's own (or the account's, for a shared resource), never another's.
    assert all(item.name.count("dev1") >= 1 or item.shared for item in items), items


@pytest.mark.parametrize("auth", AUTH_MODES)
def test_wanted_follows_the_auth_mode(auth: str) -> None:
    """Issue 18: the inventory says which resources the spec's auth mode does not use."""
    wanted = {item.key: item.wanted for item in inventory(spec_of(auth=auth))}
    token = ("signing_secret", "authorizer_log_group", "authorizer_role", "authorizer_function")
    assert all(wanted[key] is (auth == "token") for key in (*token, "authorizer_permission"))
    assert wanted["user_pool"] is (auth == "cognito")
    assert wanted["function"] and wanted["table"] and wanted["rest_api"]


def test_wanted_follows_the_network_mode() -> None:
    public = {item.key: item.wanted for item in inventory(spec_of(network="public"))}
    vpc = {item.key: item.wanted for item in inventory(spec_of(network="vpc"))}
    network = ("vpc", "subnets", "route_table", "security_group", "dynamodb_endpoint")
    assert not any(public[key] for key in network)
    assert all(vpc[key] for key in network)


def test_the_two_functions_are_named_apart() -> None:
    """Issue 18: the API's function and the authorizer are two instances of one resource type,
    each with its own name, role, log group and permission."""
    names = names_by_key(spec_of(auth="token"))
    assert names["function"] == "envport-dev1-api"
    assert names["authorizer_function"] == "envport-dev1-authorizer"
    assert names["function_role"] == "envport-dev1-fn-role"
    assert names["authorizer_role"] == "envport-dev1-authz-role"
    assert names["function_log_group"] == "/aws/lambda/envport-dev1-api"
    assert names["authorizer_log_group"] == "/aws/lambda/envport-dev1-authorizer"
    assert names["permission"] == "envport-dev1-apigw-invoke-live on envport-dev1-api:live"
    assert names["authorizer_permission"] == "envport-dev1-apigw-authorizer on envport-dev1-authorizer"
    assert names["alarms"].startswith("envport-dev1-* (")


def test_the_account_is_never_asked_for() -> None:
    """No credentials, no AWS call: a name with the account in it shows a placeholder, or the
    account when the caller knows it."""
    spec = spec_of()
    assert names_by_key(spec)["artifact_bucket"] == f"envport-artifacts-{ACCOUNT_PLACEHOLDER}-us-east-1"
    named = {i.key: i.name for i in inventory(spec, account_id="123456789012")}
    assert named["artifact_bucket"] == "envport-artifacts-123456789012-us-east-1"


def test_the_engine_lists_the_resources_it_runs() -> None:
    spec = spec_of(auth="cognito")
    engine = Engine(spec)
    items = engine.inventory()
    assert [i.key for i in items] == list(engine.resources)
    assert {i.key for i in items if not i.wanted} == engine.unwanted
