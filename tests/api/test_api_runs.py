"""Requesting runs through the API: 202 with the run's URL, `finished`, `?wait=`, the
Idempotency-Key, and every refusal as JSON problems with its status (400/404/409/413/429)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from django.utils import timezone

from portal.api import views
from portal.models import AuditEvent, Deployment, Environment, IdempotencyKey
from portal.services import runs as run_service
from portal.services.base import Actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(token, api, users):
    return api(token("operator"))


def test_a_run_answers_202_with_its_url(make_env, operator, dispatched):
    make_env("pr1", "dev", status="ready")
    response = operator.post("/api/v1/environments/pr1/runs/", {"kind": "provision", "verify": False})
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"] == f"http://testserver/api/v1/runs/{body['id']}/"
    assert (body["kind"], body["status"], body["finished"], body["options"]) == (
        "provision",
        "queued",
        False,
        {"verify": False},
    )
    assert body["console_url"].endswith(f"/admin/portal/deployment/{body['id']}/change/")
    assert [d.pk for d in dispatched] == [body["id"]]


def test_the_idempotency_key_returns_the_first_run(make_env, operator, dispatched):
    make_env("pr1", "dev", status="ready")
    key = {"Idempotency-Key": "gh-run-4966-attempt-1"}
    first = operator.post("/api/v1/environments/pr1/runs/", {"kind": "verify"}, headers=key)
    assert first.status_code == 202 and "Idempotent-Replayed" not in first
    Deployment.objects.filter(pk=first.json()["id"]).update(status="succeeded")  # it ran meanwhile
    again = operator.post("/api/v1/environments/pr1/runs/", {"kind": "verify"}, headers=key)
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["finished"] is True
    assert Deployment.objects.count() == 1 and len(dispatched) == 1
    assert AuditEvent.objects.filter(action="deployment.requested.verify").count() == 1

    other = operator.post("/api/v1/environments/pr1/runs/", {"kind": "drift"}, headers=key)
    assert other.status_code == 400
    (problem,) = other.json()["problems"]
    assert problem["field"] == "Idempotency-Key" and "another request" in problem["allowed"]
    fresh = operator.post(
        "/api/v1/environments/pr1/runs/", {"kind": "drift"}, headers={"Idempotency-Key": "k2"}
    )
    assert fresh.status_code == 202 and IdempotencyKey.objects.count() == 2

    # a day later the key is forgotten: the same key starts a new run
    Deployment.objects.update(status="succeeded")
    IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    later = operator.post("/api/v1/environments/pr1/runs/", {"kind": "verify"}, headers=key)
    assert later.status_code == 202 and "Idempotent-Replayed" not in later
    assert later.json()["id"] != first.json()["id"]


def test_an_active_run_is_a_409_that_names_it(make_env, operator, dispatched):
    make_env("pr1", "dev", status="ready")
    first = operator.post("/api/v1/environments/pr1/runs/", {"kind": "verify"}).json()
    response = operator.post("/api/v1/environments/pr1/runs/", {"kind": "provision"})
    assert response.status_code == 409
    body = response.json()
    assert f"deployment #{first['id']} (verify, queued" in body["error"]
    assert body["running"]["id"] == first["id"] and body["running"]["url"] == f"/api/v1/runs/{first['id']}/"


def test_wait_long_polls_until_the_run_finishes(make_env, operator, dispatched, monkeypatch, settings):
    make_env("pr1", "dev", status="ready")
    run = operator.post("/api/v1/environments/pr1/runs/", {"kind": "verify"}).json()
    polls = []

    def finish_on_third(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            Deployment.objects.filter(pk=run["id"]).update(status="succeeded")

    monkeypatch.setattr(views, "_sleep", finish_on_third)
    done = operator.get(f"/api/v1/runs/{run['id']}/", wait=30)
    assert done.status_code == 200 and done.json()["finished"] is True and len(polls) == 3
    settings.ENVPORT_API_MAX_WAIT_SECONDS = 20
    refused = operator.get(f"/api/v1/runs/{run['id']}/", wait=21)
    assert refused.status_code == 400
    assert refused.json()["problems"][0] == {
        "field": "wait",
        "value": "'21'",
        "allowed": "0 to 20 seconds",
        "message": "wait: '21' is not allowed; 0 to 20 seconds",
    }


def test_bad_input_lists_every_problem_like_the_cli(operator, users):
    response = operator.post(
        "/api/v1/environments/",
        {"name": "Bad_Name", "stage": "qa", "overrides": {"memory_mb": 100000, "bogus": 1}},
    )
    assert response.status_code == 400
    body = response.json()
    fields = {p["field"] for p in body["problems"]}
    assert {"suffix", "stage"} <= fields, body
    memory = next(p for p in body["problems"] if "memory_mb" in p["message"])
    assert memory["value"] and memory["allowed"], memory
    assert not Environment.objects.exists()
    typed = operator.post("/api/v1/environments/", {"stage": "dev", "alarm_emails": "not-a-list"})
    assert typed.status_code == 400
    assert {p["field"] for p in typed.json()["problems"]} == {"name", "alarm_emails"}


def test_unknown_things_are_404(operator, users):
    assert operator.get("/api/v1/environments/nope/").status_code == 404
    assert operator.get("/api/v1/runs/999999/").status_code == 404
    missing = operator.get("/api/v1/artifacts/0123456789abcdef/")
    assert missing.status_code == 404 and missing.json()["problems"][0]["message"].startswith("no artifact")


def test_a_protected_environment_is_not_torn_down(make_env, token, api, dispatched):
    make_env("prod2", "prod", status="ready")
    response = api(token("admin")).post("/api/v1/environments/prod2/runs/", {"kind": "teardown"})
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "deletion_protection"
    assert not Deployment.objects.exists()


def _zip(size: int = 0) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # A fixed timestamp: the same call gives the same bytes (and SHA-256) whenever it runs.
        entry = zipfile.ZipInfo("app.py", date_time=(2026, 1, 1, 0, 0, 0))
        archive.writestr(entry, "def handle(event, context):\n    return {}\n" + "#" * size)
    return buffer.getvalue()


def test_artifact_upload_then_release(make_env, operator, dispatched):
    make_env("pr1", "dev", status="ready")
    uploaded = operator.upload("/api/v1/artifacts/", {"zip": io.BytesIO(_zip()), "handler": "app.handle"})
    assert uploaded.status_code == 201, uploaded.content
    sha = uploaded.json()["sha256"]
    again = operator.upload("/api/v1/artifacts/", {"zip": io.BytesIO(_zip()), "handler": "app.handle"})
    assert again.status_code == 200 and again.json()["sha256"] == sha
    assert operator.get(f"/api/v1/artifacts/{sha[:10]}/").json()["handler"] == "app.handle"
    refused = operator.upload("/api/v1/artifacts/", {"zip": io.BytesIO(_zip()), "handler": "app.missing"})
    assert refused.status_code == 400 and "missing" in refused.json()["problems"][0]["message"]
    release = operator.post(
        "/api/v1/environments/pr1/runs/",
        {"kind": "release", "artifact": sha, "strategy": "canary", "percent": "150"},
    )
    assert release.status_code == 400
    assert release.json()["problems"][0]["field"] == "percent"
    release = operator.post("/api/v1/environments/pr1/runs/", {"kind": "release", "artifact": sha})
    assert release.status_code == 202
    assert release.json()["artifact"]["sha256"] == sha


def test_too_large_an_upload_is_413(operator, settings):
    settings.ENVPORT_API_MAX_UPLOAD_BYTES = 200
    response = operator.upload("/api/v1/artifacts/", {"zip": io.BytesIO(_zip(1000)), "handler": "app.handle"})
    assert response.status_code == 413
    assert "larger than 200 bytes" in response.json()["error"]


def test_every_request_is_rate_limited_per_token(make_env, token, api, settings):
    settings.ENVPORT_API_RATE = "3/min"
    make_env("pr1", "dev")
    first, second = api(token("viewer")), api(token("viewer"))
    assert [first.get("/api/v1/environments/").status_code for _ in range(3)] == [200, 200, 200]
    limited = first.get("/api/v1/environments/")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0 and "throttled" in limited.json()["error"].lower()
    assert second.get("/api/v1/environments/").status_code == 200  # another token has its own budget


def test_updates_and_deletes_go_through_the_service(make_env, token, api, dispatched):
    make_env("pr1", "dev")
    admin = api(token("admin"))
    changed = admin.patch("/api/v1/environments/pr1/", {"owner": "team-a", "overrides": {"memory_mb": 512}})
    assert changed.status_code == 200, changed.content
    assert changed.json()["settings"]["memory_mb"] == {"value": 512, "default": 256, "source": "overridden"}
    event = AuditEvent.objects.get(action="environment.updated")
    assert event.source == "api" and event.detail["changes"]["owner"] == {"before": "", "after": "team-a"}
    assert admin.delete("/api/v1/environments/pr1/").status_code == 204
    assert not Environment.objects.exists()
    assert AuditEvent.objects.get(action="environment.deleted").source == "api"


def test_lists_cost_the_same_queries_for_any_number_of_rows(make_env, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator.get(path).status_code == 200
        return len(captured)

    make_env("pr1", "dev", status="ready")
    queries("/api/v1/audit/")  # the token's first use of the minute writes its last_used_at
    few = [queries(p) for p in ("/api/v1/environments/", "/api/v1/environments/pr1/runs/", "/api/v1/audit/")]
    for n in range(2, 8):
        env = make_env(f"pr{n}", "dev", status="ready")
        run_service.request_deployment(Actor.cli(), env, "verify")
        run_service.request_deployment(Actor.cli(), make_env(f"qa{n}", "dev", status="ready"), "drift")
    many = [queries(p) for p in ("/api/v1/environments/", "/api/v1/environments/pr1/runs/", "/api/v1/audit/")]
    assert many == few
