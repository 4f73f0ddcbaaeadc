"""The admin: every model registered, run records read-only, and constant query counts."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.models import AuditEvent, CheckResult, Deployment, DriftFinding, Environment, Step

pytestmark = pytest.mark.django_db


def _environments(start: int, count: int) -> None:
    envs = Environment.objects.bulk_create(
        Environment(suffix=f"env{i:04d}", stage=("dev", "staging", "prod")[i % 3], owner=f"team-{i % 7}")
        for i in range(start, start + count)
    )
    deps = Deployment.objects.bulk_create(
        Deployment(environment=e, kind="provision", status="succeeded") for e in envs
    )
    for env, dep in zip(envs, deps, strict=True):
        env.last_deployment = dep
    Environment.objects.bulk_update(envs, ["last_deployment"])


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_every_model_is_registered():
    for model in (Environment, Deployment, Step, CheckResult, DriftFinding, AuditEvent):
        assert admin.site.is_registered(model), model


def test_environment_changelist_is_constant_in_queries(admin_client):
    url = reverse("admin:portal_environment_changelist")
    _environments(0, 10)
    admin_client.get(url)  # warm-up
    small = _count(admin_client, url)
    _environments(10, 490)
    assert Environment.objects.count() == 500
    assert _count(admin_client, url) == small
    response = admin_client.get(url + "?stage__exact=prod&q=team-3")
    assert response.status_code == 200


def _deployment(n_steps: int, n_checks: int, n_findings: int) -> Deployment:
    env = Environment.objects.create(suffix=f"q{n_steps}x{n_checks}", stage="dev")
    dep = Deployment.objects.create(environment=env, kind="provision", status="failed", error="boom")
    Step.objects.bulk_create(
        Step(
            deployment=dep,
            position=i + 1,
            resource=f"r{i}",
            kind="k",
            action="create",
            status="succeeded",
            started_offset_s=i * 0.1,
            seconds=0.5,
            calls=3,
            diffs=[{"field": "x", "wanted": 1, "found": 2}],
        )
        for i in range(n_steps)
    )
    CheckResult.objects.bulk_create(
        CheckResult(
            deployment=dep,
            position=i,
            name=f"check {i}",
            requirement="R-VER-1",
            passed=i % 2 == 0,
            http_status=200,
            latency_ms=5.0,
            expected="200",
            found="200",
        )
        for i in range(n_checks)
    )
    DriftFinding.objects.bulk_create(
        DriftFinding(deployment=dep, environment=env, resource=f"r{i}", field="memory", wanted=1, found=2)
        for i in range(n_findings)
    )
    return dep


def test_deployment_page_is_constant_in_queries(admin_client):
    small = _deployment(5, 2, 1)
    big = _deployment(50, 20, 10)
    url = "admin:portal_deployment_change"
    admin_client.get(reverse(url, args=[small.pk]))  # warm-up: per-process caches (content types, session)
    few = _count(admin_client, reverse(url, args=[small.pk]))
    many = _count(admin_client, reverse(url, args=[big.pk]))
    assert many == few
    page = admin_client.get(reverse(url, args=[big.pk])).content.decode()
    assert "check 19" in page and "r49" in page


@pytest.mark.parametrize("model", ["deployment", "step", "checkresult", "driftfinding", "auditevent"])
def test_run_record_lists_are_constant_and_read_only(admin_client, model):
    _deployment(3, 2, 1)
    url = reverse(f"admin:portal_{model}_changelist")
    admin_client.get(url)  # warm-up
    few = _count(admin_client, url)
    _deployment(40, 20, 10)
    assert _count(admin_client, url) == few
    assert admin_client.get(reverse(f"admin:portal_{model}_add")).status_code == 403


def test_environment_saved_in_the_admin_is_validated_by_build_spec_and_audited(admin_client):
    url = reverse("admin:portal_environment_add")
    data = {
        "suffix": "Bad_Name",
        "stage": "dev",
        "region": "us-east-1",
        "owner": "",
        "cost_centre": "",
        "alarm_emails": "[]",
        "overrides": '{"memory_mb": 99999}',
        "desired_state": "present",
        "role_arn": "",
        "external_id": "",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the form again, with errors
    assert "3 to 20 characters" in response.content.decode()
    assert "memory_mb: 99999" in response.content.decode()
    assert not Environment.objects.exists()

    response = admin_client.post(url, {**data, "suffix": "ui1", "overrides": '{"memory_mb": "512"}'})
    assert response.status_code == 302
    env = Environment.objects.get()
    assert env.overrides == {"memory_mb": 512} and env.created_by.username == "admin"
    event = AuditEvent.objects.get()
    assert (event.source, event.action, event.actor) == ("ui", "environment.created", "admin")
    # saved through environments.create_environment: the initial values, before null, as by the CLI
    assert event.detail["changes"]["overrides"] == {"before": None, "after": {"memory_mb": 512}}
