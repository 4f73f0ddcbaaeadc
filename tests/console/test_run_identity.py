"""Each run says which account and role it worked as (issue 22, item 6): in its record
(`outputs.identity`), in the `--json` document and on the deployment page.

The engine is scripted (no AWS): the identity comes from the environment's role ARN without any call.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.models import Deployment
from portal.services import runs
from portal.services.base import Actor

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::210987654321:role/envport-deployer"


def test_a_run_in_another_account_names_its_account_and_role(login, make_env, engine, cli):
    """Issue 22 item 6: the run report carries identity {account, role_arn}, on the page and in --json."""
    make_env("acct1", "dev", role_arn=ROLE, external_id="ext-1")
    result = cli("provision", "acct1", "--inline", "--json")
    assert result.code == 0, result.err
    identity = result.json()["identity"]
    assert identity == {"account": "210987654321", "role_arn": ROLE, "session_arn": None}
    dep = Deployment.objects.get()
    assert dep.outputs["identity"] == identity
    page = login("viewer").get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert f"as role <code>{ROLE}</code> in account <code>210987654321</code>" in page


def test_a_run_with_the_portals_own_credentials_says_so(login, make_env, engine):
    env = make_env("own1", "dev")
    dep = runs.run_deployment(runs.request_deployment(Actor.cli(), env, "provision").pk)
    assert dep.outputs["identity"]["role_arn"] is None
    page = login("viewer").get(reverse("admin:portal_deployment_change", args=[dep.pk])).content.decode()
    assert "as the portal's own credentials" in page
