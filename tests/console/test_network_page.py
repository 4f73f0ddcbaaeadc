"""The environment page shows where the function runs (issue 11, part 4): public, or the VPC
(envport's or adopted), its subnets and the DynamoDB endpoint."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.models import Environment

pytestmark = pytest.mark.django_db


def test_the_page_shows_public_or_the_vpc_with_subnets_and_endpoint(login, make_env):
    # R-NET-1
    public = make_env("pub1", "dev")
    page = login("viewer").get(reverse("admin:portal_environment_change", args=[public.pk])).content.decode()
    assert (
        "Public: the function runs in Lambda&#x27;s own network" in page
        or "Public: the function runs" in page
    )
    assert "Stage profile: Network" in page

    vpc = make_env("net1", "dev", overrides={"network": "vpc"})
    page = login("viewer").get(reverse("admin:portal_environment_change", args=[vpc.pk])).content.decode()
    assert "VPC mode" in page and "made by the next provision" in page

    Environment.objects.filter(pk=vpc.pk).update(
        outputs={
            "vpc_id": "vpc-0a1b2c3d4e5f67890",
            "subnet_ids": ["subnet-0a1b2c3d4e5f67890", "subnet-11111111"],
            "security_group_id": "sg-0123456789abcdef0",
            "dynamodb_endpoint_id": "vpce-0123456789abcdef0",
        }
    )
    page = login("viewer").get(reverse("admin:portal_environment_change", args=[vpc.pk])).content.decode()
    network = page.split('id="ep-network"', 1)[1].split("</section>", 1)[0]
    for shown in (
        "vpc-0a1b2c3d4e5f67890",
        "subnet-0a1b2c3d4e5f67890",
        "subnet-11111111",
        "vpce-0123456789abcdef0",
    ):
        assert f"<code>{shown}</code>" in network
    assert "adopted" not in network

    adopted = make_env(
        "net2",
        "dev",
        overrides={
            "network": "vpc",
            "vpc_id": "vpc-12345678",
            "subnet_ids": "subnet-12345678,subnet-87654321",
        },
    )
    page = login("viewer").get(reverse("admin:portal_environment_change", args=[adopted.pk])).content.decode()
    network = page.split('id="ep-network"', 1)[1].split("</section>", 1)[0]
    assert (
        "adopted" in network
        and "<code>vpc-12345678</code>" in network
        and "<code>subnet-87654321</code>" in network
    )
