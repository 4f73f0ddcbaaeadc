"""Every console page costs a constant number of queries as environments, runs, steps and checks
grow: 10 vs 200 environments, 5 vs 50 steps, 2 vs 20 checks, 10 vs 200 audit events."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent, CheckResult, Deployment, DriftFinding, Environment, Step

pytestmark = pytest.mark.django_db


def _environments(start: int, count: int, runs: int = 2) -> list[Environment]:
    """Environments with provisioned outputs and `runs` finished provisions each (with checks)."""
    now = timezone.now()
    envs = Environment.objects.bulk_create(
        Environment(
            suffix=f"q{i:04d}",
            stage=("dev", "staging", "prod")[i % 3],
            owner=f"team-{i % 7}",
            status="ready",
            health=("healthy", "degraded", "down", "unknown")[i % 4],
            drift_state=("clean", "drifted")[i % 2],
            outputs={
                "api_endpoint": f"http://127.0.0.1:4566/restapis/a{i}/dev/_user_request_",
                "api_key_id": "k",
            },
            expires_at=now + dt.timedelta(hours=i % 48) if i % 5 == 0 else None,
        )
        for i in range(start, start + count)
    )
    deps = Deployment.objects.bulk_create(
        Deployment(
            environment=env,
            kind=("provision", "verify")[r % 2],
            status=("succeeded", "failed")[r % 2],
            error="verification failed" if r % 2 else "",
            started_at=now - dt.timedelta(minutes=60 - r),
            finished_at=now - dt.timedelta(minutes=59 - r),
        )
        for env in envs
        for r in range(runs)
    )
    CheckResult.objects.bulk_create(
        CheckResult(
            deployment=dep, position=c, name=f"check {c}", passed=True, http_status=200, latency_ms=10.0 + c
        )
        for dep in deps
        for c in range(3)
    )
    by_env = {dep.environment_id: dep for dep in deps}
    for env in envs:
        env.last_deployment = by_env[env.pk]
    Environment.objects.bulk_update(envs, ["last_deployment"])
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor="cli:ops",
            source="cli",
            action="environment.created",
            environment=env,
            environment_suffix=env.suffix,
        )
        for env in envs
    )
    return envs


def _deployment(n_steps: int, n_checks: int, kind: str = "provision", status: str = "failed") -> Deployment:
    env = Environment.objects.create(suffix=f"d{kind[:4]}{n_steps}x{n_checks}{status[:3]}", stage="dev")
    now = timezone.now()
    dep = Deployment.objects.create(
        environment=env,
        kind=kind,
        status=status,
        error="boom" if status == "failed" else "",
        started_at=now,
        finished_at=None if status == "running" else now + dt.timedelta(seconds=9),
        spec_snapshot=env.spec().to_dict(),
    )
    Step.objects.bulk_create(
        Step(
            deployment=dep,
            position=i + 1,
            resource=f"r{i}",
            kind="k",
            action=("create", "update", "no-op")[i % 3],
            status="succeeded",
            started_offset_s=(i % 7) * 0.1,
            seconds=0.5,
            calls=3,
            diffs=[{"resource": f"r{i}", "field": "x", "wanted": 1, "found": 2}],
        )
        for i in range(n_steps)
    )
    CheckResult.objects.bulk_create(
        CheckResult(
            deployment=dep, position=i, name=f"check {i}", passed=i % 2 == 0, http_status=200, latency_ms=5.0
        )
        for i in range(n_checks)
    )
    DriftFinding.objects.bulk_create(
        DriftFinding(deployment=dep, environment=env, resource=f"r{i}", field="memory", wanted=1, found=2)
        for i in range(n_checks // 2)
    )
    return dep


def _count(client, url: str) -> int:
    client.get(url)  # warm-up: per-process caches (content types, session)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.heavy
@pytest.mark.parametrize(
    "page",
    [
        "index",
        "environment list",
        "environment list filtered",
        "environment page",
        "teardown page",
        "deployment list",
        "audit trail",
        "audit trail filtered",
    ],
)
def test_pages_over_environments_are_constant(login, page):
    client = login("admin")
    first = _environments(0, 10)
    urls = {
        "index": reverse("admin:index"),
        "environment list": reverse("admin:portal_environment_changelist"),
        "environment list filtered": reverse("admin:portal_environment_changelist")
        + "?health__exact=healthy&expiry=7d&owner=team-3&q=q0",
        "environment page": reverse("admin:portal_environment_change", args=[first[0].pk]),
        "teardown page": reverse("admin:portal_environment_teardown", args=[first[1].pk]),
        "deployment list": reverse("admin:portal_deployment_changelist"),
        "audit trail": reverse("admin:portal_auditevent_changelist"),
        "audit trail filtered": reverse("admin:portal_auditevent_changelist") + "?source__exact=cli",
    }
    small = _count(client, urls[page])
    _environments(10, 190)
    # the environment on the page gets many more runs too (the window keeps the last 30)
    extra = Deployment.objects.bulk_create(
        Deployment(environment=first[0], kind="verify", status="succeeded") for _ in range(40)
    )
    CheckResult.objects.bulk_create(
        CheckResult(deployment=d, name="c", passed=True, latency_ms=3.0) for d in extra for _ in range(5)
    )
    assert Environment.objects.count() == 200
    big = _count(client, urls[page])
    print(f"\nqueries {page}: {small} with 10 environments, {big} with 200")
    assert big == small


@pytest.mark.parametrize(
    ("page", "kind", "status"),
    [
        ("deployment page (provision, failed)", "provision", "failed"),
        ("deployment page (plan)", "plan", "succeeded"),
        ("deployment page (running)", "provision", "running"),
        ("live JSON (running)", "provision", "running"),
        ("live JSON (ended)", "drift", "failed"),
    ],
)
def test_deployment_pages_are_constant_in_steps_and_checks(login, page, kind, status):
    client = login("viewer")
    view = "live" if page.startswith("live") else "change"
    small_dep, big_dep = _deployment(5, 2, kind, status), _deployment(50, 20, kind, status)
    small = _count(client, reverse(f"admin:portal_deployment_{view}", args=[small_dep.pk]))
    big = _count(client, reverse(f"admin:portal_deployment_{view}", args=[big_dep.pk]))
    print(f"\nqueries {page}: {small} with 5 steps and 2 checks, {big} with 50 steps and 20 checks")
    assert big == small
    body = client.get(reverse(f"admin:portal_deployment_{view}", args=[big_dep.pk])).content.decode()
    assert "r49" in body
    if status != "running":
        assert "check 19" in body or kind == "drift"
