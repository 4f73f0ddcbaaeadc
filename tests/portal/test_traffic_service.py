"""The traffic service (issue 19 items 1 and 4): roles and token scopes, the cache, the markers.

moto in decorator mode (the `moto_target` fixture): the view's two AWS calls go to moto with the
local cloud's CloudWatch fidelity fixes; metric data is put with PutMetricData first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from portal.api.auth import scoped_user
from portal.models import Deployment, DriftFinding, Environment
from portal.services import tokens as token_service
from portal.services import traffic as service
from portal.services.base import Actor, Forbidden, InvalidInput, NotFound, unknown_environment
from portal.tokens.reach import Reach

pytestmark = pytest.mark.django_db
Kind, Status = Deployment.Kind, Deployment.Status


def _user(role: str) -> User:
    user = User.objects.create_user(role, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _token_actor(role: str, **scope: Any) -> Actor:
    user = _user(role)
    token, _ = token_service.create_api_token(Actor.cli(), user, **scope)
    return Actor("api", scoped_user(user, token), reach=Reach.of(token))


def put_requests(env: Environment, *values: float) -> None:
    names = env.spec().names
    boto3.client("cloudwatch", region_name=env.region).put_metric_data(
        Namespace="AWS/ApiGateway",
        MetricData=[
            {
                "MetricName": "Count",
                "Dimensions": [
                    {"Name": "ApiName", "Value": names.rest_api},
                    {"Name": "Stage", "Value": names.api_stage},
                ],
                "Timestamp": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2),
                "Values": list(values),
                "Unit": "Count",
            }
        ],
    )


def requests(found: service.Traffic) -> list[float]:
    return list(found.view.chart("api_requests").series[0].values)


def test_a_viewer_reads_the_traffic_of_any_stage(moto_target: None, make_env: Any) -> None:
    """issue 19 item 4: viewers may read metrics (console session and read-only token alike)."""
    prod = make_env("prod", "prod", status="ready")
    put_requests(prod, 1, 1, 1)
    viewer = Actor("ui", _user("viewer"))
    found = service.traffic(viewer, prod, "1h")
    assert requests(found) == [3] and not found.cached
    assert found.view.calls.total == 2
    reader = _token_actor("operator", stages=["prod"], read_only=True)
    assert requests(service.traffic(reader, prod, "1h")) == [3]


def test_out_of_a_tokens_reach_is_not_found_before_any_call(moto_target: None, make_env: Any) -> None:
    """issue 19 item 4: the token scopes govern metrics: prod is 404 to a dev token, word for word
    like an absent environment, and nothing is read from AWS."""
    prod = make_env("prod", "prod", status="ready")
    dev_token = _token_actor("admin", stages=["dev"])
    with pytest.raises(NotFound) as hidden:
        service.traffic(dev_token, prod, "1h")
    assert hidden.value.message == str(unknown_environment("prod"))
    assert service.cache.get(service.cache_key(prod, service.parse_since("1h"))) is None
    patterned = _token_actor("viewer", stages=["dev", "prod"], environments=["pr*"])
    assert requests(service.traffic(patterned, prod, "1h")) == []  # pr* matches prod: in reach


def test_a_schedule_may_not_read_metrics(make_env: Any) -> None:
    env = make_env("dev1", "dev", status="ready")
    with pytest.raises(Forbidden):
        service.traffic(Actor.schedule("drift"), env, "1h")


@pytest.mark.parametrize("since", ["2h", "1d", "x" * 5000, "30d;", "1H"])
def test_a_range_outside_the_list_is_refused_naming_them(make_env: Any, since: str) -> None:
    """Bounded input: refused before any AWS call (no moto here: a call would fail otherwise)."""
    env = make_env("dev1", "dev", status="ready")
    with pytest.raises(InvalidInput) as refused:
        service.traffic(Actor.cli(), env, since)
    assert refused.value.problems[0].endswith("one of 1h, 6h, 24h, 7d, 30d")
    assert len(refused.value.message) < 80


def test_the_view_is_cached_per_environment_and_range(moto_target: None, make_env: Any) -> None:
    """issue 19 item 1: cached briefly; the second read makes no AWS call and says it was cached."""
    env = make_env("dev1", "dev", status="ready")
    put_requests(env, 1, 1)
    first = service.traffic(Actor.cli(), env, "1h")
    put_requests(env, 1, 1, 1, 1)  # new data within the cache's life is not seen yet
    second = service.traffic(Actor.cli(), env, "1h")
    assert (requests(first), requests(second)) == ([2], [2])
    assert (first.cached, second.cached) == (False, True)
    other_range = service.traffic(Actor.cli(), env, "6h")
    assert not other_range.cached and requests(other_range) == [6]
    service.cache.clear()
    assert requests(service.traffic(Actor.cli(), env, "1h")) == [6]
    # the environment page's panel reads the cache only
    assert service.cached_traffic(Actor.cli(), env) is not None
    assert service.cached_traffic(Actor.cli(), env, "7d") is None


def _run(env: Environment, kind: str, minutes_ago: int, **fields: Any) -> Deployment:
    at = timezone.now() - dt.timedelta(minutes=minutes_ago)
    dep = Deployment.objects.create(environment=env, kind=kind, status=Status.SUCCEEDED, **fields)
    Deployment.objects.filter(pk=dep.pk).update(created_at=at, started_at=at, finished_at=at)
    dep.refresh_from_db()
    return dep


def test_markers_name_provisions_releases_rollbacks_and_drift_repairs(make_env: Any) -> None:
    """issue 19 item 1: markers for the portal's runs, a provision after drift found is a repair."""
    env = make_env("dev1", "dev", status="ready")
    plain = _run(env, Kind.PROVISION, 50)
    drift = _run(
        env,
        Kind.DRIFT,
        40,
    )
    DriftFinding.objects.create(deployment=drift, environment=env, resource="table", field="x")
    repair = _run(env, Kind.PROVISION, 35)
    release = _run(
        env, Kind.RELEASE, 20, outcome="rolled_back", outputs={"from_version": "3", "to_version": "4"}
    )
    rollback = _run(env, Kind.ROLLBACK, 10)
    _run(env, Kind.VERIFY, 5)  # not a marker
    _run(env, Kind.PROVISION, 2 * 60)  # before the range
    clean = _run(env, Kind.DRIFT, 4)  # a clean drift check, then a provision: no repair
    after_clean = _run(env, Kind.PROVISION, 3)
    now = timezone.now().timestamp()
    found = service.markers(env, now - 3600, now + 60)
    assert [(m.deployment, m.kind) for m in found] == [
        (plain.pk, "provision"),
        (repair.pk, "drift repair"),
        (release.pk, "release"),
        (rollback.pk, "rollback"),
        (after_clean.pk, "provision"),
    ]
    assert clean.pk not in [m.deployment for m in found]
    assert found[2].outcome == "rolled_back"
    assert service.versions(env, now - 3600) == ["3", "4"]
