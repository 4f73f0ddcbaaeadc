"""The admin's environment forms go through the service (issue 8, section 1): the same audit
record as the CLI, the service's refusals shown on the form's fields, deletion audited."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.admin import EnvironmentAdmin
from portal.models import AuditEvent, Deployment, Environment
from portal.services import environments, runs, schedules
from portal.services.base import Actor

pytestmark = pytest.mark.django_db


def _form(env: Environment | None = None, **changes: Any) -> dict[str, Any]:
    """The change form's POST as the page would send it, with `changes` on top."""
    data = {
        "stage": env.stage if env else "dev",
        "region": env.region if env else "us-east-1",
        "owner": env.owner if env else "",
        "cost_centre": "",
        "alarm_emails": "[]",
        "overrides": "{}" if env is None else _json(env.overrides),
        "desired_state": "present",
        "role_arn": env.role_arn if env else "",
        "external_id": env.external_id if env else "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    return {**data, **changes}


def _json(value: Any) -> str:
    return json.dumps(value)


def _change_url(env: Environment) -> str:
    return reverse("admin:portal_environment_change", args=[env.pk])


def _errors(response: Any) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: list(messages) for name, messages in form.errors.items()}


def test_admin_add_and_change_are_audited_like_the_cli(login):
    """probe: EnvironmentAdmin.save_model bypasses the service, so audit payloads differ by path
    (field names in the admin's, before/after in the CLI's)."""
    client = login("operator")
    response = client.post(
        reverse("admin:portal_environment_add"),
        {**_form(owner="team-a", overrides='{"memory_mb": "512"}'), "suffix": "ui1"},
    )
    assert response.status_code == 302, _errors(response)
    cli = Actor.cli()  # what `env create cli1 --stage dev --owner team-a --set memory_mb=512` calls
    overrides = {"memory_mb": "512"}
    environments.create_environment(cli, suffix="cli1", stage="dev", owner="team-a", overrides=overrides)
    created = {e.environment_suffix: e for e in AuditEvent.objects.filter(action="environment.created")}
    ui_changes = created["ui1"].detail["changes"]
    cli_changes = created["cli1"].detail["changes"]
    assert ui_changes.keys() == cli_changes.keys() == set(environments.AUDITED)
    typed = {"before": None, "after": {"memory_mb": 512}}
    assert ui_changes["overrides"] == cli_changes["overrides"] == typed
    assert (created["ui1"].source, created["ui1"].actor) == ("ui", "operator")
    env = Environment.objects.get(suffix="ui1")
    assert (env.created_by.username, env.updated_by.username) == ("operator", "operator")

    response = client.post(_change_url(env), _form(env, owner="team-b", overrides="{}"))
    assert response.status_code == 302, _errors(response)
    updated = AuditEvent.objects.get(action="environment.updated")
    assert updated.detail == {
        "changes": {
            "owner": {"before": "team-a", "after": "team-b"},
            "overrides": {"before": {"memory_mb": 512}, "after": {}},
        }
    }
    assert (updated.source, updated.actor) == ("ui", "operator")


def test_admin_delete_is_audited_with_the_last_values(login, make_env):
    """probe: deleting an environment in the admin leaves no audit record."""
    env = make_env("gone1", "dev", owner="team-a", status="torn_down")
    response = login("admin").post(reverse("admin:portal_environment_delete", args=[env.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Environment.objects.exists()
    event = AuditEvent.objects.get(action="environment.deleted")
    assert (event.environment_suffix, event.source, event.actor) == ("gone1", "ui", "admin")
    assert event.detail["changes"]["owner"] == {"before": "team-a", "after": None}


def test_admin_bulk_delete_goes_through_the_service(login, make_env):
    one, two = make_env("gone1", "dev"), make_env("gone2", "dev", status="torn_down")
    response = login("admin").post(
        reverse("admin:portal_environment_changelist"),
        {"action": "delete_selected", "_selected_action": [one.pk, two.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Environment.objects.exists()
    deleted = AuditEvent.objects.filter(action="environment.deleted")
    assert sorted(deleted.values_list("environment_suffix", flat=True)) == ["gone1", "gone2"]


def test_admin_delete_refused_by_the_service_is_403_and_writes_nothing(login, make_env):
    """probe: the record of a new environment is deleted while its first provision is queued."""
    env = make_env("busy1", "dev")
    runs.request_deployment(Actor.cli(), env, "provision")
    url = reverse("admin:portal_environment_delete", args=[env.pk])
    assert login("admin").post(url, {"post": "yes"}).status_code == 403
    assert Environment.objects.filter(pk=env.pk).exists() and Deployment.objects.count() == 1
    assert not AuditEvent.objects.filter(action="environment.deleted").exists()


# R-OPS-5: an expiry is for previews, and never a back door to a prod teardown
def test_operator_cannot_set_an_expiry_on_prod_in_the_form(login, make_env):
    """probe: an operator (403 on a prod teardown) sets expires_at in the past on an unprotected
    prod environment, and the hourly task would tear it down."""
    env = make_env("prod1", "prod", status="ready", overrides={"deletion_protection": False})
    past = timezone.now() - dt.timedelta(hours=1)
    data = _form(env, expires_at_0=past.strftime("%Y-%m-%d"), expires_at_1=past.strftime("%H:%M:%S"))
    response = login("operator").post(_change_url(env), data)
    assert response.status_code == 200
    assert _errors(response)["expires_at"][0].startswith("an expiry is for previews")
    env.refresh_from_db()
    assert env.expires_at is None
    assert schedules.teardown_expired_previews(lambda dep: None, now=timezone.now()) == []


def test_role_arn_of_a_provisioned_environment_cannot_change_in_the_form(login, make_env):
    """probe: the AWS account of a provisioned environment is changed in the form (a move)."""
    env = make_env("acct1", "dev", status="ready", role_arn="arn:aws:iam::111111111111:role/a")
    data = _form(env, role_arn="arn:aws:iam::222222222222:role/a", external_id="x")
    response = login("admin").post(_change_url(env), data)
    assert response.status_code == 200
    errors = _errors(response)
    assert set(errors) == {"role_arn", "external_id"}
    assert all("tear it down first" in m[0] for m in errors.values())
    env.refresh_from_db()
    assert env.role_arn.startswith("arn:aws:iam::111111111111") and env.external_id == ""


def test_operator_cannot_unprotect_prod_by_changing_its_stage_in_the_form(login, make_env):
    """probe: lifting deletion protection by turning a new prod environment into dev in the form."""
    env = make_env("prod2", "prod")
    response = login("operator").post(_change_url(env), _form(env, stage="dev"))
    assert response.status_code == 200
    assert _errors(response) == {"stage": [environments.ADMIN_ONLY_LIFT]}
    assert Environment.objects.get().stage == "prod"
    assert login("admin").post(_change_url(env), _form(env, stage="dev")).status_code == 302
    assert AuditEvent.objects.filter(action="environment.protection_lifted", actor="admin").count() == 1


def _committed_elsewhere(work: Any) -> None:
    """Run `work` on another connection and commit it, as a worker would, meanwhile."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


@pytest.mark.django_db(transaction=True)
def test_a_refusal_at_save_time_shows_the_form_again_and_writes_nothing(make_env, monkeypatch):
    """probe: a run starts between the form's check and the save (the region would move live
    resources): the service, which checks the stored row again, refuses, nothing is written, and
    the form comes back with the refusal on its field."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a second connection that commits while the request's transaction is open")
    env = make_env("race1", "dev")
    save_form = EnvironmentAdmin.save_form

    def a_run_starts_meanwhile(self: Any, request: Any, form: Any, change: bool) -> Any:
        _committed_elsewhere(lambda: Environment.objects.filter(pk=env.pk).update(status="provisioning"))
        return save_form(self, request, form, change)

    monkeypatch.setattr(EnvironmentAdmin, "save_form", a_run_starts_meanwhile)
    client = Client()  # a superuser: the roles' groups are not there in a transactional test
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.post(_change_url(env), _form(env, region="eu-west-1"))
    assert response.status_code == 200
    assert "tear it down first" in _errors(response)["region"][0]
    assert Environment.objects.get().region == "us-east-1"
    assert not AuditEvent.objects.filter(action="environment.updated").exists()
    assert not LogEntry.objects.exists()  # the admin's own history rolled back too
