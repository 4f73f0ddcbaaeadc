"""The console's Release and Roll back (R-REL): the same service as the CLI, roles on the server.

Operators release to non-prod environments and roll them back, admins any; a viewer gets 403.
A refused release shows every problem and queues nothing; an uploaded zip is checked like the
CLI's bundle before it is recorded.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from portal.models import Artifact, AuditEvent, Deployment, Environment

pytestmark = pytest.mark.django_db
READY = Environment.Status.READY


def _zip(handler_body: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/__init__.py", "")
        archive.writestr("app/handler.py", handler_body)
    return buffer.getvalue()


GOOD = "def lambda_handler(event, context):\n    return {'statusCode': 200, 'body': '{}'}\n"


def _messages(response):
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(("role", "stage", "status"), [
    ("viewer", "dev", 403), ("operator", "dev", 200), ("operator", "prod", 403), ("admin", "prod", 200),
])  # fmt: skip
def test_release_page_follows_the_roles(login, make_env, role, stage, status):
    env = make_env(f"{stage}1", stage, status=READY)
    response = login(role).get(reverse("admin:portal_environment_release", args=[env.pk]))
    assert response.status_code == status
    page = login(role).get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    assert ("Release…" in page) is (status == 200)


# R-REL-1, R-REL-3
def test_an_uploaded_zip_is_checked_recorded_and_released(login, make_env, dispatched):
    env = make_env("dev1", status=READY)
    upload = SimpleUploadedFile("app.zip", _zip(GOOD), content_type="application/zip")
    response = login("operator").post(
        reverse("admin:portal_environment_release", args=[env.pk]),
        {
            "zip": upload,
            "handler": "app.handler.lambda_handler",
            "strategy": "canary",
            "percent": "20",
            "bake": "1m",
        },
        follow=True,
    )
    dep = Deployment.objects.get(kind="release")
    assert dispatched == [dep]
    assert dep.options["strategy"] == {"kind": "canary", "percent": 20, "bake_s": 60, "interval_s": 0}
    record = Artifact.objects.get(sha256=dep.artifact_sha256)
    assert record.source == "upload app.zip" and record.created_by.username == "operator"
    assert "Release to dev1 started" in " ".join(_messages(response))
    assert AuditEvent.objects.filter(action="deployment.requested.release", actor="operator").exists()


def test_a_refused_release_lists_every_problem_and_queues_nothing(login, make_env, dispatched):
    env = make_env("dev1", status=READY)
    bad = SimpleUploadedFile("bad.zip", _zip("import missing_pkg\n" + GOOD), content_type="application/zip")
    response = login("operator").post(
        reverse("admin:portal_environment_release", args=[env.pk]),
        {"zip": bad, "handler": "app.handler.lambda_handler"},
        follow=True,
    )
    assert dispatched == [] and not Deployment.objects.filter(kind="release").exists()
    assert not Artifact.objects.exists()
    assert any("missing_pkg" in m for m in _messages(response))
    response = login("operator").post(
        reverse("admin:portal_environment_release", args=[env.pk]),
        {"strategy": "linear", "interval": "0s"},
        follow=True,
    )
    text = " ".join(_messages(response))
    assert "name exactly one of an artifact or a source environment" in text and "interval" in text


def test_roll_back_button_queues_a_rollback(login, make_env, dispatched):
    env = make_env("dev1", status=READY)
    url = reverse("admin:portal_environment_rollback", args=[env.pk])
    response = login("operator").post(url, follow=True)
    dep = Deployment.objects.get(kind="rollback")
    assert dispatched == [dep] and dep.options == {"to_version": None}
    assert "Rollback of dev1 started" in " ".join(_messages(response))


def test_release_page_and_its_live_fragment_show_the_traffic_picture(login, make_env):
    # R-REL-4: the traffic split over time, the outcome and the rollback reason
    env = make_env("dev1", status=READY)
    dep = Deployment.objects.create(
        environment=env,
        kind="release",
        status="failed",
        outcome="rolled_back",
        artifact_sha256="a" * 64,
        options={"strategy": {"kind": "canary", "percent": 10, "bake_s": 300, "interval_s": 0}},
        outputs={"from_version": "3", "to_version": "4", "rollback_reason": "alarm x: found ALARM"},
        release_state={
            "started_at": 1000.0,
            "phase": "rolled_back",
            "percent": 0,
            "traffic": [{"at": 1001.0, "percent": 10}, {"at": 1031.5, "percent": 0}],
        },
    )
    client = login("viewer")
    page = client.get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert "Version 3 → 4" in page and "strategy canary 10%" in page
    assert "Why it was rolled back:</strong> alarm x: found ALARM" in page
    assert 'aria-label="Traffic on the new version: 10% at 1.0 s, 0% at 32 s; rolled back"' in page
    live = client.get(reverse("admin:portal_deployment_live", args=[dep.pk])).json()
    assert "ep-release" in live["html"] and "rolled back" in live["html"]["ep-release"]


def test_traffic_chart_without_points_says_so():
    from portal.svg import traffic_chart

    assert "No traffic has moved" in traffic_chart([], 0.0)
    chart = traffic_chart([(0.0, 50), (3.0, 100)], 3.0)
    assert "50% at 0.00 s, 100% at 3.0 s" in chart and "rolled back" not in chart


def test_a_running_release_shows_its_checks_so_far(login, make_env):
    # R-REL-4: the alarm states and checks of the new version, live
    from portal.models import CheckResult

    env = make_env("dev1", status=READY)
    dep = Deployment.objects.create(
        environment=env,
        kind="release",
        status="running",
        artifact_sha256="b" * 64,
        release_state={"started_at": 1000.0, "phase": "shifted", "percent": 10, "traffic": []},
    )
    CheckResult.objects.create(
        deployment=dep, name="alarms with 10% of traffic on version 2", passed=True, found="8 alarms: OK"
    )
    live = login("viewer").get(reverse("admin:portal_deployment_live", args=[dep.pk])).json()
    fragment = live["html"]["ep-release"]
    assert "1 check so far" in fragment and "alarms with 10% of traffic on version 2" in fragment


def test_a_release_has_no_resource_count_for_its_progress():
    """Its steps are phases and traffic changes, not the environment's 16 resources."""
    from portal.progress import expected_steps

    assert expected_steps("release", {"suffix": "dev1"}) is None
    assert expected_steps("rollback", {"suffix": "dev1"}) is None


def test_a_running_release_shows_its_versions_from_the_start(login, make_env):
    """Issue 23: while a release ran, its page said "Version ? → ?"; the versions are in its state
    as soon as the release knows them."""
    # R-REL-4
    env = make_env("dev1", status=READY)
    dep = Deployment.objects.create(
        environment=env,
        kind="release",
        status="running",
        artifact_sha256="c" * 64,
        release_state={"started_at": 1000.0, "phase": "published", "from_version": "3", "to_version": "4"},
    )
    live = login("viewer").get(reverse("admin:portal_deployment_live", args=[dep.pk])).json()
    assert "Version 3 → 4" in live["html"]["ep-release"]


def test_each_release_step_records_its_seconds_and_aws_calls(make_env):
    """Issue 23: every release step read "0.00 s, 0 AWS calls" while the run made 43 calls. A step
    is the work since the step before: the time it took and the calls it made."""
    # R-REL-4
    import boto3
    from moto import mock_aws

    from portal import runner
    from provisioning import release as releases
    from provisioning.aws import AwsClients, AwsTarget

    env = make_env("dev1", status=READY)
    dep = Deployment.objects.create(
        environment=env, kind="release", status="running", artifact_sha256="d" * 64
    )
    with mock_aws():
        clients = AwsClients(AwsTarget(region="us-east-1"), session=boto3.Session(region_name="us-east-1"))
        events = runner._ReleaseEvents(runner._Run(dep, None), clients)
        state = releases.ReleaseState(
            code_sha256="d" * 64, phase="published", from_version="1", to_version="2"
        )
        for _ in range(3):
            clients.client("lambda").list_functions()
        events(releases.ReleaseEvent(state, "published version 2"))
        clients.client("lambda").list_functions()
        events(releases.ReleaseEvent(state, "the journey passed"))
    (first, second) = dep.steps.order_by("position").values_list("started_offset_s", "seconds", "calls")
    assert first[0] == 0.0 and first[1] > 0 and first[2] == 3
    assert second[0] == pytest.approx(first[1], abs=2e-4) and second[1] > 0 and second[2] == 1
