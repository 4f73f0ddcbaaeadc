"""vpc mode through the command line (issue 11, part 4): `--set network=vpc` and an adopted VPC's
`--set vpc_id=... --set subnet_ids=a,b`, through the same validation as every other setting."""

from __future__ import annotations

import pytest

from portal.models import Environment

pytestmark = pytest.mark.django_db

VPC = "vpc-0a1b2c3d4e5f67890"
SUBNETS = "subnet-0a1b2c3d4e5f67890,subnet-11111111"


def test_create_in_vpc_mode_managed_and_adopted(cli):
    # R-NET-1
    managed = cli("env", "create", "net1", "--stage", "dev", "--set", "network=vpc", "--json")
    assert managed.code == 0, managed.err
    assert managed.json()["settings"]["network"] == {
        "value": "vpc",
        "default": "public",
        "source": "overridden",
    }

    adopted = cli(
        "env", "create", "net2", "--stage", "prod", "--set", "network=VPC", "--set", f"vpc_id={VPC}",
        "--set", f"subnet_ids={SUBNETS}", "--json",
    )  # fmt: skip
    assert adopted.code == 0, adopted.err
    doc = adopted.json()
    assert doc["overrides"] == {"network": "vpc", "vpc_id": VPC, "subnet_ids": SUBNETS.split(",")}
    spec = Environment.objects.get(suffix="net2").spec()
    assert spec.settings.subnet_ids == tuple(SUBNETS.split(","))


@pytest.mark.parametrize(
    ("sets", "fragment"),
    [
        (["network=private"], "network: 'private' is not allowed; one of public, vpc"),
        ([f"vpc_id={VPC}", f"subnet_ids={SUBNETS}"], "network: 'public' is not allowed"),
        (["network=vpc", f"vpc_id={VPC}"], "subnet_ids: [] is not allowed; vpc_id and subnet_ids together"),
        (["network=vpc", f"vpc_id={VPC}", "subnet_ids=subnet-11111111"], "at least 2 distinct subnet ids"),
        (["network=vpc", "vpc_id=my-vpc", f"subnet_ids={SUBNETS}"], "vpc_id: 'my-vpc' is not allowed"),
    ],
)
def test_bad_network_settings_exit_2_before_anything_is_made(cli, sets, fragment):
    # R-NET-1
    args = [arg for item in sets for arg in ("--set", item)]
    result = cli("env", "create", "net3", "--stage", "dev", *args)
    assert result.code == 2
    assert fragment in result.err
    assert not Environment.objects.exists()
