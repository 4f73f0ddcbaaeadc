"""The real engine through the portal, against moto in decorator mode (no endpoint: moto intercepts).

Verification's CRUD journey needs real HTTP to the API's stage, which decorator mode cannot serve,
so `run_verify` is replaced here by a stand-in; its live-configuration part is the engine's drift
comparison, which the scheduled drift test runs for real. The real verification runs against the
local cloud in test_localcloud_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from django.utils import timezone

from portal import runner, tasks
from portal.models import AuditEvent, Deployment, Environment
from portal.services import environments
from portal.services import runs as run_service
from portal.services import schedules as schedule_service
from portal.services.base import Actor
from provisioning.engine import UNUSED_RESOURCE, unused_line
from provisioning.resources import resources_for
from provisioning.verify import VerifyReport

pytestmark = pytest.mark.django_db

REGION = "us-east-1"


@pytest.fixture
def no_http_verify(monkeypatch):
    """Decorator mode has no HTTP endpoint for the journey: record that verification was asked for."""
    asked = []

    def stand_in(spec, target, clients):
        asked.append(spec.suffix)
        return VerifyReport(spec.suffix, None, checks=[runner_check("live config (stand-in)", True)])

    monkeypatch.setattr(runner, "run_verify", stand_in)
    return asked


def _context_of(spec):
    """A context good enough for `Resource.wanted`, which reads only the spec."""
    from provisioning.resources.base import Context

    return Context(spec=spec, aws=None)


def runner_check(name, passed):
    from provisioning.checks import Check

    return Check(name, "R-VER-3", passed, None, None, "as defined", "as defined")


def _provision(cli, suffix, *extra):
    result = cli("provision", suffix, "--inline", "--json", *extra)
    assert result.code == 0, result.err
    return result


@pytest.mark.heavy
def test_provision_inline_for_real_stores_steps_and_outputs_without_the_key_value(
    cli, make_env, moto_target, no_http_verify
):
    env = make_env("mt1", alarm_emails=["ops@example.com"], owner="team-a", cost_centre="cc-42")
    result = _provision(cli, "mt1")
    doc = result.json()
    # api_key and public mode: the other modes' resources are observed (a switch would delete
    # them), not made, and shown as one line (issue 23); the network's five share one read
    # (network.network_leftovers)
    other_modes = {r.key for r in resources_for(env.spec()) if not r.wanted(_context_of(env.spec()))}
    expected = {r.key for r in resources_for(env.spec())} - other_modes | {UNUSED_RESOURCE}
    assert {s["resource"] for s in doc["steps"]} == expected
    network = {"vpc", "subnets", "route_table", "security_group", "dynamodb_endpoint"}
    assert other_modes == {
        "signing_secret",
        "authorizer_log_group",
        "authorizer_role",
        "authorizer_function",
        "authorizer_permission",
        "user_pool",
        *network,
    }
    assert all(
        s["status"] == "succeeded"
        and s["action"] == ("no-op" if s["resource"] == UNUSED_RESOURCE else "create")
        and s["calls"] > 0
        for s in doc["steps"]
    )
    [unused] = [s for s in doc["steps"] if s["resource"] == UNUSED_RESOURCE]
    assert unused["diffs"] == []
    line = Deployment.objects.get(kind="provision").steps.get(resource=UNUSED_RESOURCE).detail
    assert line == unused_line(sorted(other_modes)) and line.startswith("11 resources, absent as expected")
    assert doc["calls"]["mutating"] > 0 and no_http_verify == ["mt1"]

    dep = Deployment.objects.get(kind="provision")
    assert dep.status == "succeeded" and dep.steps.count() == len(expected)
    env.refresh_from_db()
    assert env.status == "ready"
    for key in (
        "api_endpoint",
        "table_name",
        "function_name",
        "function_arn",
        "api_key_id",
        "dashboard_url",
        "alarm_topic_arn",
    ):
        assert env.outputs.get(key), key  # R-ENV-4

    # The key's value is nowhere: not in the outputs, the steps, the audit trail or the CLI's document.
    value = boto3.client("apigateway", region_name=REGION).get_api_key(
        apiKey=env.outputs["api_key_id"], includeValue=True
    )["value"]
    stored = json.dumps(
        [
            env.outputs,
            dep.outputs,
            list(dep.steps.values("diffs", "error")),
            list(AuditEvent.objects.values("detail")),
            dep.spec_snapshot,
        ],
        default=str,
    )
    assert value not in stored and value not in result.out

    # R-OPS-1 through the portal: a second provision changes nothing.
    again = _provision(cli, "mt1", "--no-verify").json()
    assert again["calls"]["mutating"] == 0
    assert {s["action"] for s in again["steps"]} == {"no-op"}


@pytest.mark.heavy
def test_scheduled_drift_finds_a_tampered_environment(
    cli, make_env, moto_target, no_http_verify, eager_celery, django_capture_on_commit_callbacks
):
    make_env("mt2", status=None)
    _provision(cli, "mt2")
    make_env("mt3")  # never provisioned: the schedule leaves it alone
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName="envport-mt2-api", MemorySize=2048
    )

    with django_capture_on_commit_callbacks(execute=True):
        started = tasks.scheduled_drift_all()  # the beat task; its runs execute eagerly here
    assert len(started) == 1
    dep = Deployment.objects.get(pk=started[0])
    assert (dep.kind, dep.trigger, dep.status, dep.result) == (
        "drift",
        "schedule",
        "succeeded",
        "drift_found",
    )
    findings = list(dep.findings.values_list("resource", "field", "wanted", "found"))
    assert any(
        r == "function" and "memory" in f.lower() and w == 256 and v == 2048 for r, f, w, v in findings
    ), findings
    env = Environment.objects.get(suffix="mt2")
    assert env.drift_state == "drifted" and env.drift_checked_at is not None
    assert AuditEvent.objects.filter(source="schedule", action="deployment.requested.drift").count() == 1

    # Repair is a provision run; the next check is clean.
    _provision(cli, "mt2", "--no-verify")
    assert cli("drift", "mt2", "--inline", "--json").code == 0
    assert Environment.objects.get(suffix="mt2").drift_state == "clean"


@pytest.mark.heavy
def test_expired_preview_is_torn_down_and_expired_protected_prod_stays(
    cli, make_env, moto_target, no_http_verify, eager_celery, django_capture_on_commit_callbacks
):
    # R-OPS-5: a preview past its expiry is torn down by the schedule; a prod environment never is
    past = timezone.now() - dt.timedelta(hours=1)
    environments.update_environment(Actor.cli(), make_env("pr4966"), expires_at=past)  # created live
    make_env("prodx", stage="prod")  # the service refuses an expiry on prod...
    make_env("later1", expires_at=timezone.now() + dt.timedelta(days=1))
    for suffix in ("pr4966", "prodx"):
        _provision(cli, suffix, "--no-verify")
    Environment.objects.filter(suffix="prodx").update(expires_at=past)  # ...a row from before the rule
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    with django_capture_on_commit_callbacks(execute=True):
        started = tasks.teardown_expired_previews()
    (dep,) = (Deployment.objects.get(pk=pk) for pk in started)
    assert dep.environment.suffix == "pr4966" and dep.status == "succeeded" and dep.trigger == "schedule"
    preview = Environment.objects.get(suffix="pr4966")
    assert preview.status == "torn_down" and preview.outputs == {}
    assert "envport-pr4966-items" not in dynamodb.list_tables()["TableNames"]

    prod = Environment.objects.get(suffix="prodx")
    assert not prod.deployments.filter(kind="teardown").exists()
    assert prod.status == "ready" and prod.desired_state == "present" and prod.outputs["api_key_id"]
    assert "envport-prodx-items" in dynamodb.list_tables()["TableNames"]
    skipped = AuditEvent.objects.filter(action="environment.expiry_skipped", environment_suffix="prodx")
    assert skipped.count() == 1

    # An hour later: nothing is torn down, and the skip is not audited again.
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.teardown_expired_previews() == []
    assert skipped.count() == 1
    assert Environment.objects.get(suffix="later1").status == "new"


@pytest.mark.heavy
def test_health_schedule_against_moto_without_http(
    make_env, moto_target, monkeypatch, cli, no_http_verify, eager_celery, django_capture_on_commit_callbacks
):
    """The scheduled health task asks the real health check; with no HTTP endpoint it reports down."""
    make_env("mt4")
    _provision(cli, "mt4", "--no-verify")
    monkeypatch.setattr("provisioning.http.request", _unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        (pk,) = tasks.scheduled_health_all()
    dep = Deployment.objects.get(pk=pk)
    env = dep.environment
    env.refresh_from_db()
    assert dep.kind == "health" and dep.status == "failed"
    assert env.health == "down" and env.health_checked_at is not None
    assert dep.checks.get(name="API probe").passed is False


def _unreachable(method, url, **_kwargs):
    from provisioning import http

    return http.Response(status=None, headers={}, body=b"", latency_ms=1.0, error="connection refused")


@pytest.mark.heavy
def test_actions_dispatch_can_run_inline(make_env, moto_target, no_http_verify, cli):
    """The schedules take a dispatch function: the default enqueues, a caller may run in place."""
    make_env("mt5")
    _provision(cli, "mt5", "--no-verify")
    deps = schedule_service.scheduled_drift_all(dispatch=lambda d: run_service.run_deployment(d.pk))
    assert [Deployment.objects.get(pk=d.pk).status for d in deps] == ["succeeded"]
