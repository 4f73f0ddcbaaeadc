"""What a run stores from the typed reports: checks and AWS calls, for every kind of run.

The real engine and the real health check, through the runner, against moto in decorator mode;
only the HTTP probe is answered in place (decorator mode serves no stage URL).
"""

from __future__ import annotations

from typing import Any

import pytest

from portal import runner
from portal.models import Deployment
from portal.services import runs
from portal.services.base import Actor
from provisioning import http
from provisioning.aws import AwsClients, AwsTarget

pytestmark = pytest.mark.django_db


class _CountedClients(AwsClients):
    """The runner's clients, kept so the test can read what their recorder counted."""

    made: list[AwsClients] = []

    def __init__(self, target: AwsTarget, *args: Any, **kwargs: Any) -> None:
        super().__init__(target, *args, **kwargs)
        _CountedClients.made.append(self)


def _answered(method: str, url: str, **_kwargs: Any) -> http.Response:
    return http.Response(status=200, headers={}, body=b'{"items": []}', latency_ms=3.0)


@pytest.mark.heavy
def test_health_deployment_stores_the_calls_the_recorder_counted(
    cli: Any, make_env: Any, moto_target: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """probe: health deployments stored 0 AWS calls.

    HealthReport had no `calls`, and the runner read `getattr(report, "calls", None)`, so every
    health run recorded calls_total 0. Its calls are now on the report and summed like any run's.
    """
    env = make_env("hc1")
    assert cli("provision", "hc1", "--inline", "--no-verify").code == 0
    monkeypatch.setattr(http, "request", _answered)
    _CountedClients.made = []
    monkeypatch.setattr(runner, "AwsClients", _CountedClients)

    dep = runs.request_deployment(Actor.cli(), env, Deployment.Kind.HEALTH)
    dep = runner.run_deployment(dep.pk)

    (clients,) = _CountedClients.made
    counted = clients.recorder.snapshot()
    assert dep.status == Deployment.Status.SUCCEEDED, dep.error
    assert dep.calls_total > 0
    assert (dep.calls_total, dep.calls_mutating) == (counted.total, counted.mutating) == (counted.total, 0)
    assert dep.calls_by_operation == counted.by_operation
    assert list(dep.checks.values_list("name", "passed", "http_status")) == [("API probe", True, 200)]
    env.refresh_from_db()
    assert env.health == "healthy"
