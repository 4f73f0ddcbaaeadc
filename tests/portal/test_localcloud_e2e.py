"""End to end on the local cloud, in process: provision, the real verification over HTTP (R-VER-1..4),
health, drift and teardown, all through the CLI with --inline (no broker)."""

from __future__ import annotations

import pytest

from portal.models import Deployment, Environment
from portal.services import runs
from portal.services.base import Actor

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_provision_verify_health_drift_teardown(cli, make_env, local_target):
    make_env("e2e1", alarm_emails=["ops@example.com"])
    result = cli("provision", "e2e1", "--inline", "--json")
    assert result.code == 0, result.err + result.out
    doc = result.json()
    checks = {c["name"]: c for c in doc["checks"]}
    assert all(c["passed"] for c in doc["checks"]), [c for c in doc["checks"] if not c["passed"]]
    requirements = {c["requirement"] for c in doc["checks"]}
    assert {"R-VER-1", "R-VER-2", "R-VER-3"} <= requirements
    assert checks["no api key"]["status"] == 403 and checks["read deleted item"]["status"] == 404
    assert all(c["latency_ms"] is not None for c in doc["checks"] if c["requirement"] != "R-VER-3")
    assert doc["outputs"]["api_endpoint"].startswith(local_target.endpoint_url)

    env = Environment.objects.get()
    health = runs.run_deployment(runs.request_deployment(Actor.schedule("health"), env, "health").pk)
    env.refresh_from_db()
    assert health.status == "succeeded" and env.health == "healthy", env.health_detail

    assert cli("verify", "e2e1", "--inline", "--json").code == 0
    assert cli("drift", "e2e1", "--inline", "--json").code == 0

    down = cli("teardown", "e2e1", "--yes", "--inline", "--json")
    assert down.code == 0, down.err
    assert Environment.objects.get().status == "torn_down"
    assert Deployment.objects.filter(status="succeeded").count() == 5
