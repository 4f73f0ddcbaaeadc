"""The console as a newcomer reads it in the first hour (issue 23, item 9): no requirement ids in
operator text, audit details as key and value, torn-down environments counted apart, a favicon."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from portal.models import AuditEvent, Environment
from portal.services import runs
from portal.services.base import Actor

pytestmark = pytest.mark.django_db


def test_the_overview_counts_torn_down_environments_apart(login: Any, make_env: Any) -> None:
    """Issue 23: the overview counted torn-down environments as health "unknown"."""
    make_env("live1", status="ready")
    make_env("gone1", status="torn_down")
    make_env("gone2", status="torn_down")
    Environment.objects.filter(suffix="live1").update(health="healthy")
    page = login("viewer").get(reverse("admin:index")).content.decode()
    assert "Environments: 3" in page and "2 torn down</a>, not counted below" in page
    health = page[page.index("<strong>Health</strong>") : page.index("<strong>Drift</strong>")]
    counted = dict(re.findall(r"</span> (\w+)</span> (\d+)</a>", health))
    assert counted["healthy"] == "1" and counted["unknown"] == "0"


def test_audit_details_read_as_key_and_value(login: Any, make_env: Any) -> None:
    """Issue 23: audit details were raw Python dicts ({'options': {'verify': False}})."""
    env = make_env("aud1", status="ready")
    runs.request_deployment(Actor.cli(), env, "provision", {"verify": False})
    assert AuditEvent.objects.filter(action="deployment.requested.provision").exists()
    page = login("viewer").get(reverse("admin:portal_auditevent_changelist")).content.decode()
    assert '<span class="ep-kv"><span class="ep-muted">options.verify</span> false</span>' in page
    assert "{&#x27;" not in page and "{'" not in page


def test_operator_pages_carry_no_requirement_ids(login: Any, make_env: Any) -> None:
    """Issue 23: R-ENV-1, R-OPS-5... appeared in help text meant for operators."""
    env = make_env("req1", status="ready")
    client = login("admin")
    for url in (
        reverse("admin:index"),
        reverse("admin:portal_environment_change", args=[env.pk]),
        reverse("admin:portal_environment_add"),
    ):
        page = client.get(url).content.decode()
        assert not re.search(r"R-[A-Z]+-\d", page), (url, re.findall(r".{40}R-[A-Z]+-\d.{20}", page))


def test_every_page_has_an_icon_and_favicon_ico_is_not_a_404(login: Any) -> None:
    """Issue 23: every page requested /favicon.ico and got a 404."""
    client = login("viewer")
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"].endswith("portal/favicon.svg")
    assert 'rel="icon"' in client.get(reverse("admin:index")).content.decode()
