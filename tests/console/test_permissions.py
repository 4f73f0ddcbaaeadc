"""The permission matrix: each role (and anonymous) against each console action and page.

Actions are POSTed directly to their URLs, bypassing the buttons: the server decides. A refused
action leaves no deployment and no audit event; anonymous users are sent to the login page.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent, Deployment, Environment
from portal.services import runs
from portal.services.base import Actor

pytestmark = pytest.mark.django_db

OK, DENIED = "ok", "denied"

# (action, stage) -> outcome per role. "prod" environments here have their protection lifted
# (a protected one is refused for everybody; see test_protected_prod_*).
MATRIX = {
    ("plan", "dev"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("provision", "dev"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("verify", "dev"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("drift", "dev"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("teardown", "dev"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("plan", "prod"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("provision", "prod"): {"viewer": DENIED, "operator": OK, "admin": OK},
    ("teardown", "prod"): {"viewer": DENIED, "operator": DENIED, "admin": OK},
    ("lift_protection", "prod"): {"viewer": DENIED, "operator": DENIED, "admin": OK},
}


def _url(action: str, env: Environment) -> str:
    if action in ("provision", "verify", "drift"):
        return reverse("admin:portal_environment_run", args=[env.pk, action])
    return reverse(f"admin:portal_environment_{action}", args=[env.pk])


def _env(make_env, stage: str, n: int) -> Environment:
    if stage == "dev":
        return make_env(f"m{n}-dev", "dev")
    if stage == "prod-protected":
        return make_env(f"m{n}-prod", "prod", status="ready")
    env = make_env(f"m{n}-prod", "prod", status="ready", overrides={"deletion_protection": False})
    return env


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
@pytest.mark.parametrize(("action", "stage"), list(MATRIX))
def test_role_matrix_for_actions(role, action, stage, login, make_env, engine, dispatched):
    env = _env(make_env, "prod-protected" if action == "lift_protection" else stage, 1)
    before_audit = AuditEvent.objects.count()
    response = login(role).post(_url(action, env), {"backup": "on"})
    if MATRIX[(action, stage)][role] == DENIED:
        assert response.status_code == 403
        # the guard's own words, as the API and the CLI give them (issue 17: one refusal, every path)
        assert f"; {role} may not" in response.content.decode()
        assert not Deployment.objects.exists()
        assert AuditEvent.objects.count() == before_audit
        if action == "lift_protection":
            env.refresh_from_db()
            assert env.protected
        return
    assert response.status_code == 302, response.content[:500]
    if action == "lift_protection":
        env.refresh_from_db()
        assert not env.protected
        event = AuditEvent.objects.get(action="environment.protection_lifted")
        assert (event.actor, event.source, event.environment_suffix) == (role, "ui", env.suffix)
        return
    dep = Deployment.objects.get()
    kind = {"plan": "plan", "provision": "provision", "verify": "verify", "drift": "drift"}.get(
        action, "teardown"
    )
    assert (dep.kind, dep.trigger, dep.requested_by.username) == (kind, "user", role)
    assert response["Location"] == reverse("admin:portal_deployment_change", args=[dep.pk])
    event = AuditEvent.objects.get(action=f"deployment.requested.{kind}")
    assert (event.source, event.actor, event.deployment_id) == ("ui", role, dep.pk)
    if action == "plan":  # inline: already finished, nothing sent to a worker
        assert dep.status == "succeeded" and dispatched == []
    else:
        assert dep.status == "queued" and dispatched == [dep]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
# R-OPS-4: a prod environment with deletion protection refuses teardown until it is lifted
def test_protected_prod_cannot_be_torn_down_by_anyone_until_lifted(role, login, make_env, engine, dispatched):
    env = _env(make_env, "prod-protected", 2)
    client = login(role)
    response = client.post(_url("teardown", env), {"backup": "on"})
    assert response.status_code == (302 if role == "admin" else 403)
    assert not Deployment.objects.exists()
    if role == "admin":
        page = client.get(_url("teardown", env))
        assert b"has deletion protection" in page.content and b"Lift deletion protection" in page.content
        assert client.post(_url("lift_protection", env)).status_code == 302
        assert client.post(_url("teardown", env), {"backup": "on"}).status_code == 302
        dep = Deployment.objects.get()
        assert dep.kind == "teardown" and dep.options == {"backup": True} and dispatched == [dep]


# R-OPS-4: lifting deletion protection is admin-only by every path
def test_operator_cannot_lift_protection_by_editing_the_overrides(login, make_env):
    env = make_env("edit-prod", "prod")
    url = reverse("admin:portal_environment_change", args=[env.pk])
    data = {
        "stage": "prod",
        "region": "us-east-1",
        "owner": "",
        "cost_centre": "",
        "alarm_emails": "[]",
        "overrides": '{"deletion_protection": false}',
        "desired_state": "present",
        "role_arn": "",
        "external_id": "",
    }
    response = login("operator").post(url, data)
    assert response.status_code == 200
    assert b"only an admin can lift deletion protection" in response.content
    env.refresh_from_db()
    assert env.protected
    assert login("admin").post(url, data).status_code == 302
    env.refresh_from_db()
    assert not env.protected
    # the form's path is audited like the button's (probe: the admin's save bypassed the service)
    lifted = AuditEvent.objects.get(action="environment.protection_lifted")
    assert (lifted.actor, lifted.source, lifted.environment_suffix) == ("admin", "ui", "edit-prod")


def _pages(env: Environment, dep: Deployment) -> dict[str, str]:
    return {
        "index": reverse("admin:index"),
        "environment list": reverse("admin:portal_environment_changelist"),
        "environment page": reverse("admin:portal_environment_change", args=[env.pk]),
        "environment add": reverse("admin:portal_environment_add"),
        "deployment page": reverse("admin:portal_deployment_change", args=[dep.pk]),
        "live": reverse("admin:portal_deployment_live", args=[dep.pk]),
        "deployment list": reverse("admin:portal_deployment_changelist"),
        "audit trail": reverse("admin:portal_auditevent_changelist"),
        "teardown page": reverse("admin:portal_environment_teardown", args=[env.pk]),
    }


PAGE_EXPECT = {
    "viewer": {"environment add": 403, "teardown page": 403},
    "operator": {},
    "admin": {},
}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_role_matrix_for_pages(role, login, make_env, engine):
    env = make_env("pages1", "dev")
    dep = runs.run_deployment(runs.request_deployment(Actor.cli(), env, "plan").pk)
    client = login(role)
    for name, url in _pages(env, dep).items():
        response = client.get(url)
        assert response.status_code == PAGE_EXPECT[role].get(name, 200), (name, response.status_code)
    page = client.get(_pages(env, dep)["environment page"]).content.decode()
    plan_url = reverse("admin:portal_environment_plan", args=[env.pk])
    assert (plan_url in page) == (role != "viewer")  # buttons shown only to who may press them
    plan_page = client.get(_pages(env, dep)["deployment page"]).content.decode()
    assert ("Apply exactly this plan" in plan_page) == (role != "viewer")


def test_prod_teardown_page_is_for_admins_only(login, make_env):
    env = make_env("pages-prod", "prod")
    url = reverse("admin:portal_environment_teardown", args=[env.pk])
    assert login("viewer").get(url).status_code == 403
    assert login("operator").get(url).status_code == 403
    assert login("admin").get(url).status_code == 200


def test_anonymous_users_are_sent_to_the_login_page(make_env, engine, dispatched):
    env = make_env("anon1", "dev")
    dep = runs.run_deployment(runs.request_deployment(Actor.cli(), env, "plan").pk)
    client = Client()
    login_url = reverse("admin:login")
    urls = list(_pages(env, dep).values())
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(login_url), url
    for action in ("plan", "provision", "verify", "drift", "teardown", "lift_protection", "reveal_key"):
        response = client.post(_url(action, env))
        assert response.status_code == 302 and response["Location"].startswith(login_url), action
    response = client.post(reverse("admin:portal_deployment_apply", args=[dep.pk]))
    assert response["Location"].startswith(login_url)
    assert Deployment.objects.count() == 1 and dispatched == []


def test_actions_refuse_get_and_posts_without_csrf(users, make_env, engine, dispatched):
    env = make_env("csrf1", "dev")
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    for action in ("plan", "provision", "lift_protection", "reveal_key"):
        assert client.get(_url(action, env)).status_code == 405, action
        assert client.post(_url(action, env)).status_code == 403, action  # no CSRF token
    assert not Deployment.objects.exists() and dispatched == []


def test_a_user_without_a_role_sees_nothing(make_env):
    from django.contrib.auth.models import User

    env = make_env("norole1", "dev")
    client = Client()
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    assert client.get(reverse("admin:portal_environment_change", args=[env.pk])).status_code == 403
    assert client.post(_url("plan", env)).status_code == 403
    assert not Deployment.objects.exists()


def test_apply_plan_is_checked_on_the_server_too(login, make_env, engine, dispatched):
    env = make_env("apply1", "dev")
    plan = runs.run_deployment(runs.request_deployment(Actor.cli(), env, "plan").pk)
    url = reverse("admin:portal_deployment_apply", args=[plan.pk])
    assert login("viewer").post(url).status_code == 403
    assert login("viewer").get(url).status_code == 405
    assert Deployment.objects.count() == 1 and dispatched == []
    assert login("operator").post(url).status_code == 302
    assert Deployment.objects.filter(kind="provision").count() == 1


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("operator", True), ("admin", True)])
def test_admin_actions_on_the_lists_follow_the_roles(role, allowed, login, make_env, dispatched):
    one, two = make_env("bulk1", "dev", status="ready"), make_env("bulk2", "prod", status="ready")
    client = login(role)
    url = reverse("admin:portal_environment_changelist")
    response = client.post(
        url, {"action": "verify_selected", "_selected_action": [one.pk, two.pk]}, follow=True
    )
    assert response.status_code == 200
    started = Deployment.objects.filter(kind="verify")
    assert started.count() == (2 if allowed else 0)
    assert len(dispatched) == started.count()
    if allowed:  # and a queued run can be cancelled from the deployment list
        response = client.post(
            reverse("admin:portal_deployment_changelist"),
            {"action": "cancel_queued", "_selected_action": [d.pk for d in started]},
            follow=True,
        )
        assert set(Deployment.objects.values_list("status", flat=True)) == {"cancelled"}
        assert AuditEvent.objects.filter(action="deployment.cancelled", actor=role).count() == 2


def test_a_provisioned_environment_record_cannot_be_deleted(login, make_env):
    env = make_env("del1", "dev", status="ready")
    url = reverse("admin:portal_environment_delete", args=[env.pk])
    assert login("admin").post(url, {"post": "yes"}).status_code == 403
    Environment.objects.filter(pk=env.pk).update(status="torn_down")
    assert login("admin").post(url, {"post": "yes"}).status_code == 302
    assert not Environment.objects.filter(pk=env.pk).exists()


def test_stage_and_region_of_a_provisioned_environment_cannot_be_changed_in_the_form(login, make_env):
    env = make_env("move1", "dev", status="ready")
    data = {
        "stage": "staging",
        "region": "eu-west-1",
        "owner": "",
        "cost_centre": "",
        "alarm_emails": "[]",
        "overrides": "{}",
        "desired_state": "present",
        "role_arn": "",
        "external_id": "",
    }
    response = login("admin").post(reverse("admin:portal_environment_change", args=[env.pk]), data)
    assert response.status_code == 200
    assert response.content.decode().count("cannot change while the environment has live resources") == 2
    assert response.content.decode().count("tear it down first") == 2
    env.refresh_from_db()
    assert (env.stage, env.region) == ("dev", "us-east-1")
