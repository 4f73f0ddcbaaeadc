"""Token scopes through the API (issue 17, items 1, 2 and 8): the probe's reproductions.

A token reaches a set of stages plus anchored name patterns inside them; whatever is out of its
reach answers 404, word for word like an absent environment or run; a role refusal is 403 with a
problem whose `allowed` part is whole; the audit trail masks what the environment document hides.
"""

from __future__ import annotations

import pytest

from portal.models import ApiToken, AuditEvent, Deployment, Environment
from portal.services import environments as environment_service
from portal.services import runs as run_service
from portal.services import tokens as token_service
from portal.services.base import Actor, InvalidInput
from portal.tokens import reach as tokens

pytestmark = pytest.mark.django_db


def _prod_state(env: Environment) -> tuple[object, ...]:
    env.refresh_from_db()
    return (env.overrides, env.alarm_emails, env.desired_state, env.owner, env.status)


def test_a_pr_glob_token_cannot_touch_prod(cli, users, make_env, api, dispatched):
    """probe: a token made as docs/pipelines.md said (`--environments 'pr*'`) matched `prod`;
    PATCH changed its quota, throttle, alarm e-mails and desired state, and POST runs provision
    answered 202. Now the token reaches dev and staging only: 404 for both, nothing changed."""
    prod = make_env("prod", "prod", status="ready")
    make_env("pr4966", "dev", status="ready")
    made = cli(
        "apitoken", "create", "operator", "--stages", "dev,staging", "--environments", "pr*", "--name", "ci"
    )
    assert made.code == 0, made.err
    client = api(made.out.strip())
    before = _prod_state(prod)
    events = AuditEvent.objects.count()

    patched = client.patch(
        "/api/v1/environments/prod/",
        {
            "overrides": {"quota_per_day": 1, "throttle_rate": 1, "throttle_burst": 1},
            "alarm_emails": ["outsider@example.com"],
            "desired_state": "absent",
        },
    )
    provision = client.post("/api/v1/environments/prod/runs/", {"kind": "provision"})
    absent = client.patch("/api/v1/environments/nosuch/", {"owner": "x"})
    assert (patched.status_code, provision.status_code, absent.status_code) == (404, 404, 404)
    assert (
        patched.json()["error"] == "unknown environment 'prod'; `manage.py env list` shows the environments"
    )
    assert (
        absent.json()["error"] == "unknown environment 'nosuch'; `manage.py env list` shows the environments"
    )
    assert _prod_state(prod) == before
    assert not Deployment.objects.exists() and dispatched == []
    assert AuditEvent.objects.count() == events
    # the same token works where it should
    assert client.post("/api/v1/environments/pr4966/runs/", {"kind": "plan"}).status_code == 202
    names = [e["environment"] for e in client.get("/api/v1/environments/").json()["results"]]
    assert names == ["pr4966"]


def test_an_out_of_scope_run_is_404_like_an_absent_one(make_env, token, api):
    """probe: an out-of-scope run answered 403 naming its environment; an absent one 404."""
    prod = make_env("prod", "prod", status="ready")
    run = run_service.request_deployment(Actor.cli(), prod, "verify")
    client = api(token("operator", stages=["dev", "staging"]))
    hidden = client.get(f"/api/v1/runs/{run.pk}/")
    missing = client.get(f"/api/v1/runs/{run.pk + 1000}/")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert (
        hidden.json()["error"] == f"no run #{run.pk}"
        and missing.json()["error"] == f"no run #{run.pk + 1000}"
    )
    assert b"prod" not in hidden.content
    assert client.get("/api/v1/environments/prod/runs/").status_code == 404
    # and through the audit trail: a token without prod reads none of prod's events
    assert all(e["environment"] != "prod" for e in client.get("/api/v1/audit/").json()["results"])


def test_an_operator_token_lifting_prods_protection_is_403(make_env, token, api):
    """probe: an operator token asking to lift prod's deletion protection got 400 (bad input), and
    the problem's `allowed` read `"audited)"` (the message split at the wrong `;`)."""
    prod = make_env("prod", "prod", status="ready")
    client = api(token("operator", stages=["dev", "staging", "prod"]))
    response = client.patch("/api/v1/environments/prod/", {"overrides": {"deletion_protection": False}})
    assert response.status_code == 403, response.content
    (problem,) = response.json()["problems"]
    assert problem["field"] == "overrides"
    assert problem["allowed"] == (
        "only an admin can lift deletion protection (the Teardown page's Lift protection, audited)"
    )
    prod.refresh_from_db()
    assert prod.protected


def test_a_protected_prod_teardown_is_refused_before_queueing_on_every_path(make_env, token, api, cli):
    """probe: refused before queueing by the console and the API, but queued (and refused later by
    the engine) from the CLI. Now the service refuses it first, for every caller."""
    make_env("prod", "prod", status="ready")
    response = api(token("admin")).post("/api/v1/environments/prod/runs/", {"kind": "teardown"})
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "deletion_protection"
    result = cli("teardown", "prod", "--yes", "--json")
    assert result.code == 2 and "deletion protection" in result.json()["error"]
    assert not Deployment.objects.exists()
    assert Environment.objects.get().desired_state == "present"


def test_prod_is_in_a_token_only_when_an_admin_asks(users):
    """prod is never implied, and only an admin may give it."""
    operator_actor = Actor("ui", users["operator"])
    from django.contrib.auth.models import Permission

    users["operator"].user_permissions.add(*Permission.objects.filter(codename="add_apitoken"))
    with pytest.raises(InvalidInput) as refused:
        token_service.create_api_token(operator_actor, users["operator"], stages=["dev", "prod"])
    assert "stages: prod is not allowed; only an admin gives a token prod" in refused.value.problems[0]
    admin_actor = Actor("ui", users["admin"])
    token, _ = token_service.create_api_token(admin_actor, users["operator"], stages=["prod", "dev"])
    assert token.stages == ["dev", "prod"] and token.scope == "stages dev,prod; environments *"
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.detail["scope"] == "stages dev,prod; environments *"


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("a" * 65, "at most 64 characters"),
        ("*a*b*c*d*e", "* (at most 4)"),
        ("pr(.*)+", "an anchored glob"),
        ("PR*", "an anchored glob"),
        ("[z-a]*", "range runs upwards"),
        ("pr[", "an anchored glob"),
        ("pr\n", "an anchored glob"),
    ],
)
def test_unsafe_or_overlong_patterns_are_refused(users, pattern, why):
    """Patterns are bounded (length, wildcards, a small alphabet) so matching stays linear."""
    with pytest.raises(InvalidInput) as refused:
        token_service.create_api_token(Actor.cli(), users["viewer"], stages=["dev"], environments=[pattern])
    assert any(why in p for p in refused.value.problems), refused.value.problems
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("pr*", "pr4966", True),
        ("pr*", "prod", True),  # a glob says so: the stage set is what keeps a token out of prod
        ("pr[0-9]*", "prod", False),
        ("pr[0-9]*", "pr12", True),
        ("pr", "prod", False),  # anchored: the whole name, not a prefix
        ("?r1", "pr1", True),
        ("pr[!0-9]*", "pr1", False),
        ("review-*", "review-x", True),
    ],
)
def test_patterns_are_anchored_globs_in_python_and_in_the_database(make_env, pattern, name, matches):
    """The same answer from Python (`Reach.covers`) and from the database's regex (listing)."""
    make_env(name, "dev")
    reach = tokens.Reach(frozenset({"dev"}), (pattern,))
    assert reach.covers("dev", name) is matches
    from portal.services.authz import reach_filter

    assert Environment.objects.filter(reach_filter(reach)).exists() is matches


def test_the_audit_trail_hides_what_the_environment_document_hides(make_env, token, api):
    """probe: a viewer read `external_id` through the audit trail although the environment
    document hides it. The value is masked when recorded, and when read (older rows too)."""
    env = make_env("acct1", "dev")
    secret = "ext-7f3a9c1e-secret"
    environment_service.update_environment(
        Actor.cli(), env, role_arn="arn:aws:iam::111111111111:role/deployer", external_id=secret
    )
    stored = AuditEvent.objects.get(action="environment.updated")
    assert stored.detail["changes"]["external_id"] == {"before": "", "after": "[redacted]"}
    # a row written before the rule (by an older version) is masked on the way out
    AuditEvent.objects.create(
        actor="old",
        source="cli",
        action="environment.updated",
        environment=env,
        environment_suffix="acct1",
        detail={"changes": {"external_id": {"before": "", "after": secret}}},
    )
    viewer = api(token("viewer"))
    document = viewer.get("/api/v1/environments/acct1/")
    assert document.status_code == 200 and secret.encode() not in document.content
    trail = viewer.get("/api/v1/audit/", environment="acct1")
    assert trail.status_code == 200 and trail.json()["results"]
    assert secret.encode() not in trail.content
    changes = [
        e["detail"]["changes"]["external_id"]
        for e in trail.json()["results"]
        if e["action"] == "environment.updated"
    ]
    assert len(changes) == 2 and all(c["after"] == "[redacted]" for c in changes)


def test_the_admins_audit_pages_mask_it_too(make_env, users):
    from django.test import Client

    env = make_env("acct1", "dev")
    secret = "ext-7f3a9c1e-secret"
    event = AuditEvent.objects.create(
        actor="old",
        source="cli",
        action="environment.updated",
        environment=env,
        environment_suffix="acct1",
        detail={"changes": {"external_id": {"before": "", "after": secret}}},
    )
    client = Client()
    client.force_login(users["viewer"])
    listing = client.get("/admin/portal/auditevent/")
    page = client.get(f"/admin/portal/auditevent/{event.pk}/change/")
    assert listing.status_code == 200 and page.status_code == 200
    assert secret.encode() not in listing.content and secret.encode() not in page.content
    assert b"[redacted]" in page.content


def test_a_token_row_written_around_the_service_fails_closed(users, make_env):
    """A stored pattern that is not valid (edited in the database) never widens the reach."""
    token, _ = token_service.create_api_token(
        Actor.cli(), users["admin"], stages=["dev"], environments=["pr1"]
    )
    ApiToken.objects.filter(pk=token.pk).update(patterns=["pr[", 7], stages=["dev", "qa"])
    reach = tokens.Reach.of(ApiToken.objects.get(pk=token.pk))
    assert reach.stages == frozenset() and not reach.covers("dev", "pr1")
