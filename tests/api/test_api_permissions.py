"""The scope matrix: every endpoint against each role's token, a read-only token, a token limited
to `pr*`, a token without prod, a token narrowed below its user's role, a browser session, and no
credentials.

The server decides: a refused request changes nothing (no run, no environment, no audit event).
An environment or a run out of a token's reach answers 404, exactly like an absent one.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client

from portal.models import Artifact, AuditEvent, Deployment, Environment

pytestmark = pytest.mark.django_db

OK, NO, UNAUTH = "ok", 403, 401

# endpoint -> (method, path, body): pr1 is a ready preview, pr2 a new one (deletable), live1 is prod
ENDPOINTS = {
    "list environments": ("get", "/api/v1/environments/", None),
    "create environment": ("post", "/api/v1/environments/", {"name": "pr9", "stage": "dev"}),
    "show environment": ("get", "/api/v1/environments/pr1/", None),
    "update environment": ("patch", "/api/v1/environments/pr1/", {"owner": "team-a"}),
    "delete environment": ("delete", "/api/v1/environments/pr2/", None),
    "list runs": ("get", "/api/v1/environments/pr1/runs/", None),
    "plan": ("post", "/api/v1/environments/pr1/runs/", {"kind": "plan"}),
    "provision": ("post", "/api/v1/environments/pr1/runs/", {"kind": "provision"}),
    "verify": ("post", "/api/v1/environments/pr1/runs/", {"kind": "verify"}),
    "drift": ("post", "/api/v1/environments/pr1/runs/", {"kind": "drift"}),
    "teardown": ("post", "/api/v1/environments/pr1/runs/", {"kind": "teardown"}),
    "release": ("post", "/api/v1/environments/pr1/runs/", {"kind": "release", "artifact": "ARTIFACT"}),
    "rollback": ("post", "/api/v1/environments/pr1/runs/", {"kind": "rollback"}),
    "teardown prod": ("post", "/api/v1/environments/live1/runs/", {"kind": "teardown"}),
    "release prod": ("post", "/api/v1/environments/live1/runs/", {"kind": "release", "artifact": "ARTIFACT"}),
    "show run": ("get", "/api/v1/runs/RUN/", None),
    "upload artifact": ("upload", "/api/v1/artifacts/", None),
    "show artifact": ("get", "/api/v1/artifacts/ARTIFACT/", None),
    "audit trail": ("get", "/api/v1/audit/", None),
}
READS = {"list environments", "show environment", "list runs", "show run", "show artifact", "audit trail"}
OPERATOR_WRITES = {
    "create environment",
    "update environment",
    "plan",
    "provision",
    "verify",
    "drift",
    "teardown",
    "release",
    "rollback",
    "upload artifact",
}
ADMIN_ONLY = {"delete environment", "teardown prod", "release prod"}
PROD_PATHS = {"teardown prod", "release prod"}

# credential -> the endpoints it may use (everything else: 403; "none": 401 everywhere)
CAN = {
    "viewer": READS,
    "operator": READS | OPERATOR_WRITES,
    "admin": READS | OPERATOR_WRITES | ADMIN_ONLY,
    "admin read-only": READS,
    "admin narrowed to operator": READS | OPERATOR_WRITES,
    "admin limited to pr*": (READS | OPERATOR_WRITES | ADMIN_ONLY) - PROD_PATHS,
    "operator limited to live*": {"list environments", "upload artifact", "show artifact", "audit trail"},
    "admin without prod": READS | OPERATOR_WRITES | ADMIN_ONLY - PROD_PATHS,
    "session operator": READS | OPERATOR_WRITES,
}
PR1_PATHS = {e for e, (_, path, _) in ENDPOINTS.items() if "/pr1/" in path or "/pr2/" in path} | {"show run"}
# credential -> the endpoints that answer 404 (out of its reach: the same answer as an absent one)
HIDDEN = {
    "admin limited to pr*": PROD_PATHS,
    "operator limited to live*": PR1_PATHS,
    "admin without prod": PROD_PATHS,
}
CREDENTIALS = {
    "viewer": ("viewer", {}),
    "operator": ("operator", {}),
    "admin": ("admin", {}),
    "admin read-only": ("admin", {"read_only": True}),
    "admin narrowed to operator": ("admin", {"role": "operator"}),
    "admin limited to pr*": ("admin", {"environments": "pr*"}),
    "operator limited to live*": ("operator", {"environments": "live*"}),
    "admin without prod": ("admin", {"stages": ["dev", "staging"]}),
}


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handle(event, context):\n    return {'statusCode': 200}\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def checked_zip():
    """The artifact's zip, checked once: the check runs the handler in a sandboxed child (a tenth
    of a second), and every case of the matrix registers the same bytes."""
    from provisioning.artifacts import artifact_from_bytes

    return artifact_from_bytes(_zip(), handler="app.handle", source="test")


@pytest.fixture
def world(make_env, users, checked_zip):
    """pr1 (a ready preview, its last run finished), pr2 (new), live1 (ready, protection lifted),
    and one artifact."""
    from portal.services import releases
    from portal.services import runs as run_service
    from portal.services.base import Actor

    pr1 = make_env("pr1", "dev", status="ready")
    make_env("pr2", "dev")
    live1 = make_env("live1", "prod", status="ready", overrides={"deletion_protection": False})
    run = run_service.request_deployment(Actor.cli(), pr1, "verify")
    Deployment.objects.filter(pk=run.pk).update(status="succeeded")
    artifact = releases.register_artifact(Actor.cli(), checked_zip)
    return {"pr1": pr1, "live1": live1, "run": run, "artifact": artifact}


def _client(kind: str, token, api, users):
    if kind == "none":
        return api(None)
    if kind.startswith("session "):
        client = api(None)
        client.client = Client(enforce_csrf_checks=False)
        client.client.force_login(users[kind.split()[1]])
        return client
    user, scope = CREDENTIALS[kind]
    return api(token(user, **scope))


def _call(client, endpoint: str, world):
    method, path, body = ENDPOINTS[endpoint]
    path = path.replace("RUN", str(world["run"].pk)).replace("ARTIFACT", world["artifact"].sha256[:12])
    if body is not None:
        body = {k: (world["artifact"].sha256 if v == "ARTIFACT" else v) for k, v in body.items()}
    if method == "upload":
        return client.upload(path, {"zip": io.BytesIO(_zip()), "handler": "app.handle"})
    return getattr(client, method)(path, body) if body is not None else getattr(client, method)(path)


def _state():
    return (
        Deployment.objects.count(),
        Environment.objects.count(),
        AuditEvent.objects.exclude(action__startswith="api_token.").count(),
        Artifact.objects.count(),
        list(Environment.objects.values_list("suffix", "owner")),
    )


@pytest.mark.parametrize("credential", [*CAN, "none"])
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_scope_matrix(credential, endpoint, world, token, api, users, dispatched, engine):
    client = _client(credential, token, api, users)
    before = _state()
    response = _call(client, endpoint, world)
    if credential == "none":
        assert response.status_code == 401, response.content[:300]
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert _state() == before
        return
    if endpoint in HIDDEN.get(credential, ()):
        assert response.status_code == 404, (credential, endpoint, response.content[:300])
        assert "unknown environment" in response.json()["error"] or "no run" in response.json()["error"]
        assert _state() == before
        assert dispatched == []
        return
    if endpoint not in CAN[credential]:
        assert response.status_code == 403, (credential, endpoint, response.content[:300])
        body = response.json()
        assert body["error"] and body["problems"][0]["message"]
        assert _state() == before
        assert dispatched == []
        return
    assert response.status_code in (200, 201, 202, 204), (credential, endpoint, response.content[:500])
    if endpoint in (
        "plan",
        "provision",
        "verify",
        "drift",
        "teardown",
        "release",
        "rollback",
        "teardown prod",
        "release prod",
    ):
        assert response.status_code == 202
        dep = Deployment.objects.get(pk=response.json()["id"])
        assert dispatched == [dep]
        assert dep.trigger == "api"
        event = AuditEvent.objects.get(deployment=dep)
        assert (event.source, event.actor) == ("api", CREDENTIALS.get(credential, ("operator",))[0])


def test_a_pattern_limited_token_lists_only_what_it_covers(world, token, api):
    client = api(token("admin", environments="pr*"))
    names = [e["environment"] for e in client.get("/api/v1/environments/").json()["results"]]
    assert names == ["pr1", "pr2"]
    events = client.get("/api/v1/audit/").json()["results"]
    assert events and {e["environment"] for e in events} == {"pr1", "pr2"}
    refused = client.post("/api/v1/environments/", {"name": "staging9", "stage": "staging"})
    assert refused.status_code == 403
    (problem,) = refused.json()["problems"]
    assert problem["field"] == "environment" and problem["value"] == "'staging9'"
    assert problem["allowed"] == "this token reaches stages dev,staging,prod; environments pr*"


def test_a_read_only_token_says_so(world, token, api):
    refused = api(token("admin", read_only=True)).post("/api/v1/environments/pr1/runs/", {"kind": "plan"})
    assert refused.status_code == 403
    assert refused.json()["problems"][0] == {
        "field": "token",
        "value": None,
        "allowed": "only reads (GET) are allowed",
        "message": "token: read-only; only reads (GET) are allowed",
    }


def test_a_token_never_exceeds_its_users_role(users):
    from portal.services import tokens as token_service
    from portal.services.base import Actor, InvalidInput

    with pytest.raises(InvalidInput) as refused:
        token_service.create_api_token(Actor.cli(), users["operator"], role="admin", stages=["dev"])
    assert refused.value.problems == ["role: 'admin' is not allowed; at most the user's own role, operator"]


def test_demoting_the_user_demotes_their_tokens(world, token, api, users):
    from django.contrib.auth.models import Group

    value = token("admin")
    admin = users["admin"]
    admin.groups.set([Group.objects.get(name="viewer")])
    response = api(value).post("/api/v1/environments/pr1/runs/", {"kind": "provision"})
    assert response.status_code == 403
    assert not Deployment.objects.filter(kind="provision").exists()


def test_session_changes_need_the_csrf_token(world, users):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"])
    assert client.get("/api/v1/environments/pr1/").status_code == 200
    refused = client.post("/api/v1/environments/pr1/runs/", {"kind": "plan"}, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    assert not Deployment.objects.filter(kind="plan").exists()
