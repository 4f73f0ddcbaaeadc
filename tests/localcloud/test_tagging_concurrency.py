"""The Tagging API answers while resources are being made (fix ``tagging-read-while-resources-change``).

moto walked every service's live tables for GetResources and failed with "dictionary changed size
during iteration" when another request made a resource meanwhile; the engine met it on a first
apply (the KMS key looking for an orphan by its tags while the other resources are made). AWS
answers; a resource made meanwhile may or may not be listed
(https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.logs.models import LogsBackend

from localcloud import fidelity

REGION = "us-east-1"
TAGS = {"envport:environment": "race1"}


@pytest.fixture
def cloud() -> Iterator[None]:
    fidelity.apply()
    with mock_aws():
        yield


def _a_group_made_during_the_first_walk(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Another request makes a log group while the walk is between two of Logs' groups, once."""
    walk = LogsBackend.iter_tagged_resources
    walks: list[int] = []

    def racing(backend: LogsBackend) -> Iterator[Any]:
        walks.append(1)
        resources = walk(backend)
        yield next(resources)
        if len(walks) == 1:
            backend.create_log_group("/envport/race1/made-meanwhile", tags=dict(TAGS))
        yield from resources

    monkeypatch.setattr(LogsBackend, "iter_tagged_resources", racing)
    return walks


def test_get_resources_answers_when_a_resource_is_made_during_its_walk(
    cloud: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = boto3.client("logs", region_name=REGION)
    for name in ("/envport/race1/a", "/envport/race1/b"):
        logs.create_log_group(logGroupName=name, tags=dict(TAGS))
    walks = _a_group_made_during_the_first_walk(monkeypatch)
    interval = sys.getswitchinterval()
    answer = boto3.client("resourcegroupstaggingapi", region_name=REGION).get_resources(
        TagFilters=[{"Key": "envport:environment", "Values": ["race1"]}]
    )
    arns = {r["ResourceARN"].rsplit(":", 1)[-1] for r in answer["ResourceTagMappingList"]}
    assert len(walks) == 2  # the first walk met the change; the second answered
    assert sys.getswitchinterval() == interval  # other threads switch in as before
    assert arns >= {"/envport/race1/a", "/envport/race1/b"}


def test_a_walk_that_keeps_failing_is_not_walked_forever(
    cloud: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localcloud.tagging import fixes

    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="/envport/x", tags=dict(TAGS))
    walks: list[int] = []

    def always_changing(_backend: LogsBackend) -> Iterator[Any]:
        walks.append(1)
        raise RuntimeError("dictionary changed size during iteration")
        yield  # pragma: no cover - a generator, as moto's

    monkeypatch.setattr(LogsBackend, "iter_tagged_resources", always_changing)
    with pytest.raises(RuntimeError, match="changed size"):
        boto3.client("resourcegroupstaggingapi", region_name=REGION).get_resources()
    assert len(walks) == fixes.ATTEMPTS
