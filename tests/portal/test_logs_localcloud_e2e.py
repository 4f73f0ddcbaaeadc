"""Through the portal, on the local cloud: a failing request's check is one click from its log lines
(issue 19 item 2, "Done when"). Provisioned and verified with the CLI (--inline), its table deleted so
the function fails; the failed check's row on the deployment page links to the request's lines and
shows them inline, and the health probe records the request id it received too."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from portal.models import CheckResult, Deployment, Environment
from portal.services import runs
from portal.services.base import Actor

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_a_failed_check_is_one_click_from_its_log_lines(cli: Any, make_env: Any, local_target: Any) -> None:
    """Issue 19: the failing requests' log lines are one click from the failed check."""
    make_env("logs1", alarm_emails=["ops@example.com"])
    assert cli("provision", "logs1", "--inline", "--json").code == 0
    env = Environment.objects.get()
    local_target.client("dynamodb").delete_table(TableName=env.spec().names.table)

    failed = cli("verify", "logs1", "--inline", "--json")
    assert failed.code == 1
    create = next(c for c in failed.json()["checks"] if c["name"] == "create item")
    assert create["status"] == 500 and create["request_id"]
    row = CheckResult.objects.get(name="create item", deployment__kind="verify")
    assert row.request_id == create["request_id"]

    health = runs.run_deployment(runs.request_deployment(Actor.schedule("health"), env, "health").pk)
    probe = CheckResult.objects.get(deployment=health, name="API probe")
    assert probe.request_id and probe.http_status == 500

    viewer = User.objects.create_user("v", "v@example.com", "pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(viewer)
    dep = Deployment.objects.get(kind="verify")
    page = client.get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    link = (
        f"{reverse('admin:portal_environment_logs', args=[env.pk])}?since=30d&amp;request_id={row.request_id}"
    )
    assert link in page
    assert "unhandled error [ResourceNotFoundException]" in page and "REPORT RequestId: " in page
    lines = client.get(link.replace("&amp;", "&")).content.decode()
    assert "ResourceNotFoundException" in lines and "START RequestId: " in lines
