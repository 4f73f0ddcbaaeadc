"""Notifications: a failed run and a drift finding reach a webhook receiver on 127.0.0.1, signed
(HMAC-SHA256 of timestamp and body) and linking to the run's console page; nothing is sent until
the run's transaction commits, and then by the delivery task; a failing receiver is retried with
backoff, every attempt recorded, and a channel that keeps failing is shown as such."""

from __future__ import annotations

import time

import pytest
from django.core import mail
from django.test import Client

from portal.models import Delivery, Deployment, NotificationChannel, NotificationRule
from portal.notifications import channels, events, tasks
from portal.services import environments as environment_service
from portal.services import runs
from portal.services import tokens as token_service
from portal.services.base import Actor

# The receivers listen on 127.0.0.1: allowed by name, as an operator would allow one of theirs.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_local_receiver")]

SECRET = "s3cret-signing-key-0123456789"


@pytest.fixture
def webhook(receiver):
    channel = NotificationChannel.objects.create(
        name="ops hook", kind="webhook", target=receiver.url, secret=SECRET
    )
    NotificationRule.objects.create(channel=channel, events=["run.failed", "drift.found"], environments="pr*")
    return channel


def _run(kind, env, capture):
    dep = runs.request_deployment(Actor.cli(), env, kind)
    with capture(execute=True):
        return runs.run_deployment(dep.pk)


def _verified(received):
    timestamp = received.headers["X-Envport-Timestamp"]
    signature = received.headers["X-Envport-Signature"]
    assert abs(int(timestamp) - time.time()) < 60
    assert channels.verify(SECRET, timestamp, received.body, signature)
    assert not channels.verify("another-secret-entirely", timestamp, received.body, signature)
    assert not channels.verify(SECRET, timestamp, received.body + b" ", signature)  # tampered body
    stale = str(int(timestamp) - channels.TOLERANCE_S - 1)  # a replay, re-stamped or not
    assert not channels.verify(SECRET, stale, received.body, channels.sign(SECRET, stale, received.body))
    return received.json()


def test_a_failed_run_and_a_drift_finding_reach_the_receiver_signed(
    webhook, receiver, make_env, engine, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.ENVPORT_BASE_URL = "https://portal.example.com"
    env = make_env("pr4966", "dev", status="ready")
    engine.fail_resource = "table"
    failed = _run("provision", env, django_capture_on_commit_callbacks)
    assert failed.status == "failed"
    engine.fail_resource = None
    engine.diffs = {"function": [("memory_mb", 256, 512)]}
    drifted = _run("drift", env, django_capture_on_commit_callbacks)
    assert drifted.findings.count() == 1

    assert len(receiver.requests) == 2
    first, second = (_verified(r) for r in receiver.requests)
    assert first["event"] == "run.failed" and first["environment"] == {"name": "pr4966", "stage": "dev"}
    assert first["run"] == {
        "id": failed.pk,
        "kind": "provision",
        "status": "failed",
        "result": None,
        "url": f"https://portal.example.com/admin/portal/deployment/{failed.pk}/change/",
    }
    assert "table broke" in first["summary"] or "table" in first["detail"]["error"]
    assert second["event"] == "drift.found" and second["detail"]["findings"] == 1
    assert (second["run"]["status"], second["run"]["result"]) == ("succeeded", "drift_found")
    assert second["run"]["id"] == drifted.pk
    assert receiver.requests[0].headers["X-Envport-Event"] == "run.failed"
    deliveries = Delivery.objects.order_by("id")
    assert [(d.event, d.status, d.attempts, d.response_code) for d in deliveries] == [
        ("run.failed", "delivered", 1, 200),
        ("drift.found", "delivered", 1, 200),
    ]
    assert receiver.requests[1].headers["X-Envport-Delivery"] == str(deliveries[1].pk)


def test_nothing_is_sent_before_the_run_commits_nor_for_unmatched_rules(
    webhook, receiver, make_env, engine, eager_celery, django_capture_on_commit_callbacks
):
    env = make_env("staging3", "staging", status="ready")  # the rule covers pr* only
    engine.fail_resource = "table"
    _run("provision", env, django_capture_on_commit_callbacks)
    pr = make_env("pr5", "dev", status="ready")
    dep = runs.request_deployment(Actor.cli(), pr, "provision")
    with django_capture_on_commit_callbacks(execute=False) as pending:
        runs.run_deployment(dep.pk)
    assert receiver.requests == [] and not Delivery.objects.exists()  # not yet committed
    assert pending  # the hook waits for the commit


@pytest.mark.heavy
def test_a_failing_receiver_is_retried_with_backoff_and_recorded(
    webhook, receiver, make_env, engine, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.ENVPORT_NOTIFY_MAX_ATTEMPTS = 3
    receiver.answers = [500, 503]  # then 200
    env = make_env("pr6", "dev", status="ready")
    engine.fail_resource = "table"
    _run("provision", env, django_capture_on_commit_callbacks)
    (delivery,) = Delivery.objects.all()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.error) == (
        "delivered",
        3,
        200,
        "",
    )
    assert len(receiver.requests) == 3
    assert len({r.headers["X-Envport-Delivery"] for r in receiver.requests}) == 1  # one id: receivers dedupe

    receiver.answers = [500] * 9
    for _ in range(3):
        _run("provision", env, django_capture_on_commit_callbacks)
    gave_up = Delivery.objects.filter(status="failed")
    assert gave_up.count() == 3
    assert {(d.attempts, d.response_code, d.error) for d in gave_up} == {
        (3, 500, "HTTP 500 Internal Server Error")
    }
    webhook.refresh_from_db()
    assert webhook.failing and webhook.consecutive_failures == 3


def test_backoff_doubles(settings):
    settings.ENVPORT_NOTIFY_BACKOFF_SECONDS = 30
    assert [tasks.backoff(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_an_unreachable_receiver_is_recorded_without_a_code(make_env, settings):
    settings.ENVPORT_NOTIFY_MAX_ATTEMPTS = 5
    channel = NotificationChannel.objects.create(
        name="gone", kind="webhook", target="http://127.0.0.1:9/nothing-listens", secret=SECRET
    )
    delivery = Delivery.objects.create(channel=channel, event="run.failed", payload={"summary": "x"})
    assert tasks.attempt(delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_code) == (1, None) and "Connection" in delivery.error


def test_email_and_slack_channels(
    receiver, make_env, settings, eager_celery, django_capture_on_commit_callbacks
):
    email = NotificationChannel.objects.create(
        name="mail", kind="email", target="ops@example.com, lead@example.com"
    )
    slack = NotificationChannel.objects.create(name="slack", kind="slack", target=receiver.url)
    for channel in (email, slack):
        NotificationRule.objects.create(channel=channel, events=["protection.lifted"], stages=["prod"])
    env = make_env("prod3", "prod")
    with django_capture_on_commit_callbacks(execute=True):
        environment_service.lift_protection(Actor.cli(), env)
    (message,) = mail.outbox
    assert message.to == ["ops@example.com", "lead@example.com"]
    assert "deletion protection of prod3 lifted" in message.subject
    (posted,) = receiver.requests
    assert posted.json() == {"text": "envport: deletion protection of prod3 lifted by " + Actor.cli().name}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_the_admin_shows_a_failing_channel_and_its_deliveries(db):
    from django.contrib.auth.models import User

    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    channel = NotificationChannel.objects.create(
        name="flaky",
        kind="webhook",
        target="http://127.0.0.1:9/",
        secret=SECRET,
        consecutive_failures=4,
        last_error="HTTP 500 Internal Server Error",
    )
    Delivery.objects.create(
        channel=channel, event="run.failed", status="failed", attempts=5, response_code=500
    )
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/portal/notificationchannel/").content.decode()
    assert "failing" in listing and "4 deliveries in a row gave up" in listing
    deliveries = client.get("/admin/portal/delivery/").content.decode()
    assert "run.failed" in deliveries and "500" in deliveries


def test_health_changes_and_rolled_back_releases_are_events(
    receiver, make_env, engine, eager_celery, django_capture_on_commit_callbacks
):
    channel = NotificationChannel.objects.create(
        name="all", kind="webhook", target=receiver.url, secret=SECRET
    )
    NotificationRule.objects.create(
        channel=channel, events=["health.changed", "release.rolled_back", "run.succeeded"]
    )
    env = make_env("pr8", "dev", status="ready")
    engine.health = "down"
    _run("health", env, django_capture_on_commit_callbacks)
    _run("health", env, django_capture_on_commit_callbacks)  # still down: no change, no event
    dep = runs.request_deployment(Actor.cli(), env, "verify")
    with django_capture_on_commit_callbacks(execute=True):
        runs.run_deployment(dep.pk)
        # what a release that rolled back leaves on its run, as the runner finishes it
        Deployment.objects.filter(pk=dep.pk).update(
            kind="release",
            status="failed",
            outcome="rolled_back",
            result="rolled_back",
            outputs={"rollback_reason": "alarm Errors in ALARM"},
        )
        dep.refresh_from_db()
        events.run_finished(dep, env, {})
    bodies = [_verified(r) for r in receiver.requests]
    assert [b["event"] for b in bodies] == ["health.changed", "run.succeeded", "release.rolled_back"]
    assert bodies[0]["detail"]["from"] == "unknown" and bodies[0]["detail"]["to"] == "down"
    assert bodies[2]["detail"]["reason"] == "alarm Errors in ALARM"


def test_lifting_protection_through_the_api_notifies(
    receiver, make_env, eager_celery, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group, User

    channel = NotificationChannel.objects.create(
        name="sec", kind="webhook", target=receiver.url, secret=SECRET
    )
    NotificationRule.objects.create(channel=channel, events=["protection.lifted"], stages=["prod"])
    admin = User.objects.create_user("boss", is_staff=True)
    admin.groups.add(Group.objects.get(name="admin"))
    _, value = token_service.create_api_token(Actor.cli(), admin, stages=["prod"])
    make_env("prod9", "prod")
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().patch(
            "/api/v1/environments/prod9/",
            {"overrides": {"deletion_protection": False}},
            content_type="application/json",
            headers={"Authorization": f"Bearer {value}"},
        )
    assert response.status_code == 200, response.content
    (body,) = [_verified(r) for r in receiver.requests]
    assert body["event"] == "protection.lifted" and body["detail"] == {"by": "boss", "source": "api"}


def test_an_admin_configures_a_channel_and_its_rules(db):
    from django.contrib.auth.models import Group, User

    admin = User.objects.create_user("chief", is_staff=True)
    admin.groups.add(Group.objects.get(name="admin"))
    client = Client()
    client.force_login(admin)
    form = {
        "name": "ops",
        "kind": "webhook",
        "target": "https://hooks.example.com/envport",
        "secret": "short",
        "enabled": "on",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-0-events": ["run.failed", "drift.found"],
        "rules-0-stages": ["prod"],
        "rules-0-environments": "pr*",
        "rules-0-enabled": "on",
    }
    refused = client.post("/admin/portal/notificationchannel/add/", form)
    assert refused.status_code == 200 and b"at least 16 characters" in refused.content
    saved = client.post(
        "/admin/portal/notificationchannel/add/", {**form, "secret": "a-long-enough-signing-key"}
    )
    assert saved.status_code == 302, saved.content[:2000]
    # Issue 23: secrets are write-only in every form, for the admin who set them too; saving the
    # form with the field left empty keeps the key
    channel_url = f"/admin/portal/notificationchannel/{NotificationRule.objects.get().channel_id}/change/"
    edit = client.get(channel_url)
    assert edit.status_code == 200 and b"a-long-enough-signing-key" not in edit.content
    kept = client.post(
        channel_url, {**form, "secret": "", "rules-INITIAL_FORMS": "0", "rules-TOTAL_FORMS": "0"}
    )
    assert kept.status_code == 302, kept.content[:2000]
    assert NotificationRule.objects.get().channel.secret == "a-long-enough-signing-key"
    rule = NotificationRule.objects.get()
    assert (rule.channel.name, rule.events, rule.stages, rule.environments) == (
        "ops",
        ["run.failed", "drift.found"],
        ["prod"],
        "pr*",
    )

    viewer = User.objects.create_user("reader", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client.force_login(viewer)
    page = client.get(f"/admin/portal/notificationchannel/{rule.channel_id}/change/")
    assert page.status_code == 200 and b"a-long-enough-signing-key" not in page.content
