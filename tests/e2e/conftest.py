"""End-to-end fixtures: one local cloud for the session, environments applied by the real engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud import LocalCloud
from provisioning.aws import AwsTarget


@pytest.fixture(scope="session")
def local_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0) as cloud:
        yield cloud


@pytest.fixture(scope="session")
def target(local_cloud: LocalCloud) -> AwsTarget:
    return AwsTarget(
        region=local_cloud.region,
        endpoint_url=local_cloud.endpoint_url,
        execute_api_url_template=local_cloud.stage_url_template,
        max_attempts=3,
    )
