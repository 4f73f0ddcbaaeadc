"""What the console's pages say: the environment list, the environment page, the overview with its
sparklines, the audit trail, and the audited API key reveal (read from AWS, never stored)."""

from __future__ import annotations

import datetime as dt
import re

import boto3
import pytest
from django.urls import reverse
from django.utils import timezone

from portal.console.overview import RUNS, series
from portal.models import AuditEvent, CheckResult, Deployment, Environment
from portal.services import runs as run_service
from portal.services.base import Actor

pytestmark = pytest.mark.django_db


def test_environment_list_shows_state_in_words_and_symbols_with_filters(login, make_env, engine):
    soon = make_env("soon1", "dev", owner="team-a", expires_at=timezone.now() + dt.timedelta(hours=3))
    make_env("later1", "staging", owner="team-b", expires_at=timezone.now() + dt.timedelta(days=30))
    run_service.run_deployment(run_service.request_deployment(Actor.cli(), soon, "provision").pk)
    Environment.objects.filter(pk=soon.pk).update(health="degraded")
    client = login("viewer")
    url = reverse("admin:portal_environment_changelist")
    page = client.get(url).content.decode()
    assert '<span aria-hidden="true">▲</span> degraded' in page  # health: symbol and word
    assert '<span aria-hidden="true">✔</span> ready' in page
    assert "provision</a>" in page and "succeeded" in page  # last deployment: what, how it ended
    assert 'href="http://127.0.0.1:4566/restapis/abc123/dev/_user_request_"' in page  # the endpoint
    for query, shown, hidden in (
        ("?expiry=24h", "soon1", "later1"),
        ("?owner=team-b", "later1", "soon1"),
        ("?health__exact=degraded", "soon1", "later1"),
        ("?drift_state__exact=clean", "soon1", "later1"),
        ("?stage__exact=staging", "later1", "soon1"),
        ("?q=soon", "soon1", "later1"),
    ):
        body = client.get(url + query).content.decode()
        assert f">{shown}</a>" in body and f">{hidden}</a>" not in body, query


def test_environment_page_shows_profile_outputs_and_runs_at_a_glance(login, make_env, engine):
    # R-ENV-2 (stage default beside the override), R-ENV-4 (outputs)
    env = make_env("glance1", "prod", overrides={"memory_mb": 2048})
    run_service.run_deployment(run_service.request_deployment(Actor.cli(), env, "provision").pk)
    page = login("viewer").get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    row = re.search(r'<tr class="ep-overridden"><th scope="row">memory_mb</th>(.*?)</tr>', page).group(1)
    assert "<td>1024</td>" in row and "<strong>2048</strong>" in row  # stage default beside the override
    assert '<tr class="ep-inherited"><th scope="row">timeout_s</th><td>15</td>' in page
    for group in (
        "Compute (Lambda)",
        "API throttling and quota",
        "Data (DynamoDB)",
        "Logs",
        "Alarm thresholds",
    ):
        assert f"Stage profile: {group}" in page
    assert 'data-copy="http://127.0.0.1:4566/restapis/abc123/dev/_user_request_"' in page  # copy buttons
    assert "key123" in page and "••••" in page and SECRET not in page
    assert "3 of 3 checks passed" in page  # the last verification
    assert "(an operator or admin can reveal it)" in page  # a viewer gets no Reveal button


SECRET = "Zx9SECRETapiKEYvalue0123456789abcdefGHIJ"


def test_profile_groups_cover_every_overridable_setting():
    from portal.admin import PROFILE_GROUPS
    from provisioning.spec import OVERRIDABLE

    keys = [k for _, group in PROFILE_GROUPS for k in group]
    assert sorted(keys) == sorted(OVERRIDABLE)


@pytest.mark.usefixtures("moto_target")
def test_reveal_reads_the_key_from_aws_audits_it_and_stores_nothing(login, make_env):
    # R-ENV-4: the key's value is read from AWS when revealed, never stored
    value = "RevealMe0123456789abcdefghijklmnopqrstuv"
    key = boto3.client("apigateway", region_name="us-east-1").create_api_key(
        name="k", value=value, enabled=True
    )
    env = make_env("reveal1", "dev", status="ready")
    Environment.objects.filter(pk=env.pk).update(outputs={"api_key_id": key["id"]})
    url = reverse("admin:portal_environment_reveal_key", args=[env.pk])

    assert login("viewer").post(url).status_code == 403
    response = login("operator").post(url)
    assert response.status_code == 200 and value in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="environment.api_key_revealed")
    assert (event.actor, event.source, event.environment_suffix) == ("operator", "ui", "reveal1")
    assert event.detail == {"api_key_id": key["id"]}
    env.refresh_from_db()
    stored = [repr(env.outputs), *(repr(e.detail) for e in AuditEvent.objects.all())]
    assert not any(value in text for text in stored)
    page = login("operator").get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    assert value not in page and 'form="ep-reveal"' in page  # masked again, with its Reveal button
    assert value in login("admin").post(url).content.decode()
    assert AuditEvent.objects.filter(action="environment.api_key_revealed").count() == 2


def test_reveal_without_a_key_says_so(login, make_env):
    env = make_env("reveal2", "dev")
    response = login("admin").post(reverse("admin:portal_environment_reveal_key", args=[env.pk]), follow=True)
    assert any("has no API key yet" in str(m) for m in response.context["messages"])
    assert not AuditEvent.objects.filter(action="environment.api_key_revealed").exists()


def test_overview_counts_running_failed_and_sparklines(login, make_env, engine):
    calm = make_env("calm1", "dev", status="ready")
    busy = make_env("busy1", "dev", status="ready")
    Environment.objects.filter(pk=calm.pk).update(health="healthy", drift_state="clean")
    Environment.objects.filter(pk=busy.pk).update(health="down", drift_state="drifted")
    now = timezone.now()
    runs = Deployment.objects.bulk_create(
        Deployment(
            environment=calm,
            kind="provision" if i % 2 == 0 else "verify",
            status="succeeded",
            created_at=now,
            started_at=now - dt.timedelta(seconds=100 - i),
            finished_at=now - dt.timedelta(seconds=100 - i) + dt.timedelta(seconds=10 + i),
        )
        for i in range(70)
    )
    for i, dep in enumerate(runs):  # created_at is auto_now_add: order them explicitly
        Deployment.objects.filter(pk=dep.pk).update(created_at=now - dt.timedelta(minutes=70 - i))
    CheckResult.objects.bulk_create(
        CheckResult(deployment=dep, name=f"c{c}", passed=True, latency_ms=float(i * 10 + c))
        for i, dep in enumerate(runs)
        for c in (1, 2, 30)  # median c=2
    )
    failed = run_service.request_deployment(Actor.cli(), busy, "verify")
    Deployment.objects.filter(pk=failed.pk).update(
        status="failed", finished_at=now, error="verification failed: x"
    )
    running = run_service.request_deployment(Actor.cli(), busy, "drift")
    Deployment.objects.filter(pk=running.pk).update(status="running", started_at=now)

    data = series()[calm.pk]
    assert len(data["duration"]) == RUNS and len(data["latency"]) == RUNS
    assert data["duration"][-1] == pytest.approx(10 + 68)  # the newest provision (run 68)
    assert data["latency"][-1] == pytest.approx(69 * 10 + 2)  # median of the newest run (69)

    page = login("viewer").get(reverse("admin:index")).content.decode()
    assert "Environments: 2" in page
    assert re.search(r"healthy</span> 1</a>", page) and re.search(r"down</span> 1</a>", page)
    assert re.search(r"drifted</span> 1</a>", page)
    assert f"#{running.pk} drift</a>" in page and f"#{failed.pk} verify</a>" in page
    assert page.count('class="ep-spark"') == 2  # calm1 has both series; busy1 none
    assert "median check latency: last 692 ms" in page and "692 ms" in page


def test_audit_trail_is_filterable_by_source_environment_and_action(login, make_env, engine):
    env = make_env("audit1", "dev")  # a CLI event
    client = login("operator")
    client.post(reverse("admin:portal_environment_plan", args=[env.pk]))  # UI events
    url = reverse("admin:portal_auditevent_changelist")

    def rows(query: str = "") -> str:
        page = client.get(url + query).content.decode()
        if 'id="result_list"' not in page:
            return ""  # no row matched
        table = page[page.index('id="result_list"') :]
        return table[: table.index("</table>")]

    assert "deployment.requested.plan" in rows() and "environment.created" in rows()
    assert "deployment.requested.plan" in rows("?source__exact=ui")
    assert "environment.created" not in rows("?source__exact=ui")
    assert "environment.created" in rows("?source__exact=cli")
    assert f'href="{reverse("admin:portal_environment_change", args=[env.pk])}"' in rows(
        "?environment_suffix=audit1"
    )
    assert "audit1" not in rows("?environment_suffix=other")
    only_created = rows("?action=environment.created")
    assert "environment.created" in only_created and "deployment.requested.plan" not in only_created
    operator = rows(f"?who__id__exact={env.audit_events.filter(source='ui').first().who_id}")
    assert "deployment.requested.plan" in operator and "environment.created" not in operator
