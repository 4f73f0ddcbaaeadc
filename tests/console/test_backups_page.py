"""The console's backups: a section on the environment page and a backups page (against moto)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from portal.models import AuditEvent, Environment
from portal.targets import target_for
from provisioning.aws import AwsClients
from provisioning.reconcile import converge
from provisioning.resources.base import Context
from provisioning.resources.kms_key import KmsKey
from provisioning.resources.table import Table

pytestmark = pytest.mark.django_db


@pytest.mark.heavy
def test_the_environment_page_links_the_backups_and_the_page_takes_and_lists_them(
    login: Any, make_env: Any, moto_target: None
) -> None:
    """Issue 20 item 1: the environment page has a backups section (a button for those who may back
    up); the backups page lists on-demand and pre-teardown backups and the point-in-time window;
    an operator backs up non-prod from it (audited), a viewer may only look."""
    env = make_env("bkc1", status=Environment.Status.READY)
    ctx = Context(spec=env.spec(), aws=AwsClients(target_for(env.region)), sleep=lambda _s: None)
    converge(KmsKey(), ctx)
    converge(Table(), ctx)
    page = reverse("admin:portal_environment_backups", args=[env.pk])

    viewer, operator = login("viewer"), login("operator")
    shown = viewer.get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    assert 'id="ep-backups"' in shown and page in shown and "Back up now" not in shown
    assert (
        "Back up now"
        in operator.get(reverse("admin:portal_environment_change", args=[env.pk])).content.decode()
    )

    assert viewer.post(page).status_code == 302
    assert not AuditEvent.objects.filter(action="environment.backup_taken").exists()
    taken = operator.post(page, follow=True)
    assert "Backed up envport-bkc1-items as envport-bkc1-ondemand-" in taken.content.decode()
    assert AuditEvent.objects.filter(action="environment.backup_taken", environment_suffix="bkc1").exists()

    listed = viewer.get(page)
    assert listed.status_code == 200
    html = listed.content.decode()
    assert (
        "envport-bkc1-ondemand-" in html
        and 'id="ep-pitr"' in html
        and "Backups taken before a teardown" in html
    )
    assert "Back up bkc1 now" not in html
    assert login(None).get(page).status_code == 302  # to the login page
