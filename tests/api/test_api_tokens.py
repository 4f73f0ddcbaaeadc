"""API tokens: made and revoked by `manage.py apitoken` (and the admin), audited, stored as a
SHA-256 only, never written to a log or a table in clear, refused once expired or revoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import pytest
from django.apps import apps
from django.core import serializers
from django.test import Client
from django.utils import timezone

from portal.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db


def _everything_stored() -> str:
    """Every row of every table the portal, auth and admin keep, as text."""
    models = [m for m in apps.get_models() if m._meta.app_label in ("portal", "auth", "admin", "sessions")]
    return "".join(serializers.serialize("json", m.objects.all()) for m in models)


def test_cli_creates_lists_and_revokes_a_token(cli, users, make_env, caplog):
    caplog.set_level(logging.DEBUG)
    make_env("pr7", "dev")
    created = cli(
        "apitoken",
        "create",
        "operator",
        "--stages",
        "dev,staging",
        "--environments",
        "pr*",
        "--expires",
        "+30d",
        "--name",
        "gh",
    )
    assert created.code == 0, created.err
    value = created.out.strip()
    assert value.startswith("envp_") and len(value) == len("envp_") + 12 + 1 + 43
    assert "shown once" in created.err and value not in created.err

    token = ApiToken.objects.get()
    assert (token.user.username, token.role, token.stages, token.patterns, token.read_only) == (
        "operator",
        "operator",
        ["dev", "staging"],
        ["pr*"],
        False,
    )
    assert "stages dev,staging; environments pr*" in created.err
    assert token.digest == hashlib.sha256(value.encode()).hexdigest()
    assert token.expires_at > timezone.now() + dt.timedelta(days=29)
    event = AuditEvent.objects.get(action="api_token.created")
    assert (
        event.source == "cli"
        and event.detail["prefix"] == token.prefix
        and event.detail["role"] == "operator"
        and event.detail["scope"] == "stages dev,staging; environments pr*"
    )

    client = Client()
    auth = {"Authorization": f"Bearer {value}"}
    assert client.get("/api/v1/environments/pr7/", headers=auth).status_code == 200
    bad = client.get("/api/v1/environments/pr7/", headers={"Authorization": f"Bearer {value[:-1]}x"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid API token"

    listed = cli("apitoken", "list", "--json")
    assert listed.code == 0
    (row,) = listed.json()
    assert (row["prefix"], row["state"], row["stages"], row["environments"]) == (
        token.prefix,
        "active",
        ["dev", "staging"],
        ["pr*"],
    )
    assert "stages dev,staging; environments pr*" in cli("apitoken", "list").out
    assert value not in listed.out

    revoked = cli("apitoken", "revoke", str(token.pk))
    assert revoked.code == 0, revoked.err
    assert AuditEvent.objects.filter(action="api_token.revoked", detail__token=token.pk).exists()
    refused = client.get("/api/v1/environments/pr7/", headers=auth)
    assert refused.status_code == 401 and refused.json()["error"] == f"API token {token.prefix} is revoked"
    again = cli("apitoken", "revoke", token.prefix)
    assert again.code == 2 and "already revoked" in again.err

    # never in clear: not in any table, not in any log line
    assert value not in _everything_stored()
    assert value.split("_")[-1] not in _everything_stored()
    assert value not in caplog.text


def test_cli_refuses_with_every_problem(cli, users):
    result = cli(
        "apitoken",
        "create",
        "viewer",
        "--stages",
        "dev",
        "--role",
        "admin",
        "--environments",
        "PR;*",
        "--expires",
        "yesterday",
    )
    assert result.code == 2
    assert "--expires 'yesterday': not a date" in result.err
    bad = cli(
        "apitoken", "create", "viewer", "--stages", "dev,qa", "--role", "admin", "--environments", "PR;*"
    )
    assert bad.code == 2
    assert "role: 'admin' is not allowed; at most the user's own role, viewer" in bad.err
    assert "environments: 'PR;*' is not allowed" in bad.err
    assert "stages: 'qa' is not allowed; one or more of dev, staging, prod" in bad.err
    assert cli("apitoken", "create", "nobody", "--stages", "dev").code == 2
    assert cli("apitoken", "create", "viewer").code == 2  # --stages is required: a scope is said
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused(token, api, users):
    value = token("viewer")
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = api(value).get("/api/v1/environments/")
    assert response.status_code == 401
    assert response.json()["error"].endswith("is expired")


def test_a_token_in_a_log_line_is_masked(caplog):
    from portal.logutil import RedactSecrets

    logger = logging.getLogger("portal.test_tokens")
    logger.addFilter(RedactSecrets())
    try:
        with caplog.at_level(logging.INFO, logger="portal.test_tokens"):
            logger.info("header was Authorization: Bearer %s", "envp_0123456789ab_" + "s" * 43)
    finally:
        logger.filters.clear()
    assert "envp_0123456789ab_****" in caplog.text and "s" * 43 not in caplog.text


def test_the_admin_shows_a_new_token_once_and_revokes_it(users):
    """probe: a token shown once on creation sat in full in the `messages` cookie (signed, not
    encrypted: decoding it gave a working token). Now it is on the answering page only."""
    client = Client()
    client.force_login(users["admin"])
    response = client.post(
        "/admin/portal/apitoken/add/",
        {
            "user": users["operator"].pk,
            "name": "ci",
            "role": "",
            "stages": ["dev", "staging"],
            "environments": "pr[0-9]* review-*",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 200, response.content[:500]
    token = ApiToken.objects.get()
    assert (token.stages, token.patterns) == (["dev", "staging"], ["pr[0-9]*", "review-*"])
    value = response.context["value"]
    assert hashlib.sha256(value.encode()).hexdigest() == token.digest
    assert value.encode() in response.content and b"not shown again" in response.content
    assert "no-store" in response["Cache-Control"]
    # no secret in any cookie: neither the answer's Set-Cookie nor the client's jar holds it
    assert value not in str(response.cookies) and value not in str(client.cookies)
    assert not [m for m in response.context.get("messages", []) if value in str(m)]
    assert value not in _everything_stored()  # nor in the session's row
    assert AuditEvent.objects.get(action="api_token.created").source == "ui"
    page = client.get("/admin/portal/apitoken/")
    assert token.prefix.encode() in page.content and value.encode() not in page.content
    assert b"stages dev,staging; environments pr[0-9]* review-*" in page.content
    detail = client.get(f"/admin/portal/apitoken/{token.pk}/change/")
    assert (
        detail.status_code == 200 and b"stages dev,staging; environments pr[0-9]* review-*" in detail.content
    )

    client.post("/admin/portal/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.state == "revoked"
    assert AuditEvent.objects.filter(action="api_token.revoked", source="ui").exists()


def test_only_an_admin_ticks_prod_in_the_admin_form(users):
    """An operator holding the token permissions (given by hand) still cannot give a token prod."""
    from django.contrib.auth.models import Permission

    operator = users["operator"]
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["add_apitoken", "view_apitoken"]))
    client = Client()
    client.force_login(operator)
    response = client.post(
        "/admin/portal/apitoken/add/",
        {
            "user": operator.pk,
            "name": "x",
            "role": "",
            "stages": ["dev", "prod"],
            "environments": "",
            "expires_at_0": "",
            "expires_at_1": "",
        },
        follow=True,
    )
    assert not ApiToken.objects.exists()
    assert b"prod is not allowed; only an admin gives a token prod" in response.content


def test_operators_cannot_make_tokens_in_the_admin(users):
    client = Client()
    client.force_login(users["operator"])
    assert client.get("/admin/portal/apitoken/add/").status_code == 403
