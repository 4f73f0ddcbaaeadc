"""Fixtures for engine tests: moto in decorator mode with the local cloud's fidelity fixes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from localcloud import fidelity
from provisioning.aws import AwsClients, AwsTarget
from provisioning.resources.base import Context
from provisioning.spec import EnvironmentSpec, build_spec


@pytest.fixture
def mocked_aws() -> Iterator[None]:
    fidelity.apply()
    with mock_aws():
        yield


@pytest.fixture
def aws(mocked_aws: None) -> AwsClients:
    return AwsClients(AwsTarget(region="us-east-1"))


@pytest.fixture
def spec() -> EnvironmentSpec:
    return build_spec(
        suffix="dev1",
        stage="dev",
        region="us-east-1",
        owner="team-a",
        cost_centre="cc-42",
        alarm_emails=["ops@example.com"],
    )


@pytest.fixture
def ctx(spec: EnvironmentSpec, aws: AwsClients) -> Context:
    """A run context whose waits do not sleep (moto is consistent at once)."""
    return Context(spec=spec, aws=aws, sleep=lambda _seconds: None)
