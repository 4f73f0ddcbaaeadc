"""The API under hostile or careless callers (issue 17, items 6, 7 and 8).

- every answer of /api/v1/ is JSON: an unknown route (404), a body too large (413), nested too
  deep (400), an exception (500 with a request id, no trace);
- `Idempotency-Key` longer than the 255 characters a key is stored in is refused, not truncated;
- the OpenAPI document declares every key the real answers carry;
- long-polls cannot take the web server's threads, and failed authentications are rate limited.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client

from portal.api import serializers as api_serializers
from portal.api.parsers import MAX_DEPTH, deeper_than
from portal.models import AuditEvent, Deployment, Environment

pytestmark = pytest.mark.django_db
RUNS = "/api/v1/environments/pr1/runs/"


@pytest.fixture
def operator(token: Any, api: Any) -> Any:
    made = api(token("operator"))
    made.client = Client(raise_request_exception=False)  # the server's answer, as a pipeline sees it
    return made


def _problem(response: Any, status: int) -> dict[str, Any]:
    """The answer as a problem document of `status`: JSON, with the request id it was logged under."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    assert len(response["X-Request-Id"]) == 32
    body: dict[str, Any] = response.json()
    assert body["error"] and body["problems"], body
    assert "<html" not in response.content.decode().lower()
    return body


# --- item 7: every answer of /api/v1/ is JSON -------------------------------------------------
def test_a_100000_deep_json_body_is_a_json_400(make_env: Any, operator: Any, dispatched: Any) -> None:
    """Issue 17: "a 100,000-deep JSON body is a 500 HTML page" (RecursionError in the parser)."""
    make_env("pr1", "dev", status="ready")
    deep = "[" * 100_000 + "]" * 100_000
    for response in (
        operator.client.post(RUNS, deep, content_type="application/json", headers=operator.headers),
        operator.client.patch(
            "/api/v1/environments/pr1/",
            '{"overrides": {"a": ' + "[" * 40 + "]" * 40 + "}}",
            content_type="application/json",
            headers=operator.headers,
        ),
    ):
        body = _problem(response, 400)
        assert body["error"] == "the JSON body is nested too deep"
        assert body["problems"][0]["field"] == "request"
        assert body["problems"][0]["allowed"] == f"at most {MAX_DEPTH} levels of arrays and objects"
    assert not Deployment.objects.exists() and not dispatched
    assert Environment.objects.get(suffix="pr1").overrides == {}


def test_nesting_is_counted_outside_strings_only() -> None:
    """Issue 17, the nested body: the bound counts arrays and objects, not brackets in a string."""
    assert not deeper_than('{"a": "[[[[[[[[", "b": "\\"[{"}', 1)
    assert deeper_than('{"a": [{}]}', 2)
    assert not deeper_than('{"a": [{}]}', 3)
    assert deeper_than("[" * (MAX_DEPTH + 1), MAX_DEPTH)


def test_a_body_within_the_depth_bound_is_parsed(make_env: Any, operator: Any, dispatched: Any) -> None:
    """Issue 17, the nested body: the bound refuses only what no request of the API needs."""
    make_env("pr1", "dev", status="ready")
    text = (
        '{"kind": "verify", "note": "[[[[{{{{", "deep": '
        + "[" * (MAX_DEPTH - 1)
        + "]" * (MAX_DEPTH - 1)
        + "}"
    )
    response = operator.client.post(RUNS, text, content_type="application/json", headers=operator.headers)
    assert response.status_code == 202, response.content[:300]


def test_a_20_mb_body_is_a_json_413(make_env: Any, operator: Any, settings: Any) -> None:
    """Issue 17: "a 20 MB one [JSON body] a 400 HTML page"; form bodies too."""
    make_env("pr1", "dev", status="ready")
    big = '{"kind": "verify", "x": "' + "a" * 20_000_000 + '"}'
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    for response in (
        operator.client.post(RUNS, big, content_type="application/json", headers=operator.headers),
        operator.client.post(
            RUNS,
            "kind=verify&x=" + "a" * 20_000_000,
            content_type="application/x-www-form-urlencoded",
            headers=operator.headers,
        ),
    ):
        body = _problem(response, 413)
        assert body["problems"][0]["allowed"] == f"at most {limit} bytes"
    many = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = operator.client.post(
        RUNS, many, content_type="application/x-www-form-urlencoded", headers=operator.headers
    )
    assert "at most 1000 fields" in _problem(response, 400)["problems"][0]["allowed"]
    assert not Deployment.objects.exists()


def test_an_unknown_api_route_is_a_json_404(operator: Any, client: Client) -> None:
    """Issue 17: "an unknown /api/v1/ route a 404 HTML page"."""
    for path in ("/api/v1/nope/", "/api/v1/environments/pr1/runs/7/", "/api/v1/runs/abc/", "/api/v1/"):
        body = _problem(operator.get(path), 404)
        assert body["error"] == f"no such route: GET {path}"
        assert body["problems"][0]["allowed"] == "the API's routes are listed in /api/v1/schema/"
    assert _problem(client.post("/api/v1/nope/"), 404)  # without a token too
    # outside the API nothing changes: a 404 there is Django's page; a missing slash a redirect
    outside = client.get("/nope/")
    assert outside.status_code == 404 and "X-Request-Id" not in outside
    assert outside["Content-Type"].startswith("text/html")
    assert operator.get("/api/v1/environments").status_code == 301


def test_an_exception_is_a_json_500_with_a_request_id_and_no_trace(
    make_env: Any, operator: Any, monkeypatch: pytest.MonkeyPatch, settings: Any, caplog: Any
) -> None:
    """Issue 17, item 7: "500 with a request id", never a page or a stack trace (with DEBUG on, Django's
    500 page is the traceback with the settings). The fault is injected into the document builder."""
    make_env("pr1", "dev", status="ready")

    def broken(env: Any) -> dict[str, Any]:
        raise RuntimeError("the secret detail db-password-1234")

    monkeypatch.setattr(api_serializers, "environment_document", broken)
    for debug in (False, True):
        settings.DEBUG = debug
        with caplog.at_level(logging.ERROR, logger="portal.api"):
            response = operator.get("/api/v1/environments/pr1/")
        body = _problem(response, 500)
        rid = response["X-Request-Id"]
        assert body["request_id"] == rid and rid in body["error"]
        text = response.content.decode()
        assert "db-password-1234" not in text and "Traceback" not in text and "RuntimeError" not in text
        (record,) = [r for r in caplog.records if rid in r.getMessage()]
        assert record.exc_info and "db-password-1234" in str(record.exc_info[1])
        caplog.clear()
    assert AuditEvent.objects.filter(action__startswith="environment.").count() == 1  # the create


# --- item 8: Idempotency-Key ------------------------------------------------------------------
def test_an_idempotency_key_over_255_characters_is_refused_not_truncated(
    make_env: Any, operator: Any, dispatched: Any
) -> None:
    """Issue 17: "an `Idempotency-Key` longer than 255 characters is truncated and can collide": two
    pipelines' keys that share their first 255 characters got one run between them."""
    make_env("pr1", "dev", status="ready")
    for tail in ("-attempt-1" * 5, "-attempt-2" * 5):
        response = operator.post(RUNS, {"kind": "verify"}, headers={"Idempotency-Key": "k" * 255 + tail})
        body = _problem(response, 400)
        assert body["problems"] == [
            {
                "field": "Idempotency-Key",
                "value": "a key of 305 characters",
                "allowed": "at most 255 characters",
                "message": "Idempotency-Key: a key of 305 characters is not allowed; at most 255 characters",
            }
        ]
    assert not Deployment.objects.exists() and not dispatched
    fits = operator.post(RUNS, {"kind": "verify"}, headers={"Idempotency-Key": "k" * 255})
    assert fits.status_code == 202 and len(dispatched) == 1
    again = operator.post(RUNS, {"kind": "verify"}, headers={"Idempotency-Key": "k" * 255})
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == fits.json()["id"]


# --- item 8: the OpenAPI document declares what the answers carry -----------------------------
# Objects whose keys are data, not fields: the schema says "an object" and nothing more, rightly.
FREE_FORM = {
    "RunOut.options",  # each kind's own options
    "RunOut.outputs",  # the environment's AWS outputs
    "StepOut.diffs[]",  # one resource type's fields each
    "FindingOut.wanted",
    "FindingOut.found",
    "EnvironmentOut.overrides",  # stage-profile settings by name
    "EnvironmentOut.outputs",
    "SettingOut.value",
    "SettingOut.default",
    "AuditEventOut.detail",  # each action's own detail
}


def _resolve(schema: dict[str, Any], node: dict[str, Any], name: str) -> tuple[dict[str, Any], str]:
    """`node` with its $ref (or a nullable allOf of one $ref) followed, and its component's name."""
    while True:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            node = schema["components"]["schemas"][name]
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node, name


def _undeclared(schema: dict[str, Any], node: dict[str, Any], value: Any, name: str, where: str) -> list[str]:
    """Every key of `value` its schema does not declare, and every required key it lacks, by path."""
    node, name = _resolve(schema, node, name)
    out: list[str] = []
    if isinstance(value, list):
        for item in value:
            out += _undeclared(schema, node.get("items", {}), item, name, where + "[]")
    elif isinstance(value, dict):
        if "properties" in node:
            declared = node["properties"]
            out += [f"{where}.{key} ({name}: not declared)" for key in value if key not in declared]
            out += [
                f"{where}.{key} ({name}: required, absent)"
                for key in node.get("required", [])
                if key not in value
            ]
            for key, item in value.items():
                if key in declared:
                    out += _undeclared(schema, declared[key], item, name, f"{name}.{key}")
        elif isinstance(node.get("additionalProperties"), dict) and node["additionalProperties"]:
            for item in value.values():
                out += _undeclared(schema, node["additionalProperties"], item, name, where + "{}")
        elif where not in FREE_FORM:
            out.append(f"{where} (an object of keys the schema does not name)")
    return out


def _declared_answer(schema: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    operation = schema["paths"][path][method]
    content: dict[str, Any] = operation["responses"][str(status)]["content"]
    return dict(content["application/json"]["schema"])


def test_the_schema_declares_every_key_the_answers_carry(
    client: Client, make_env: Any, users: Any, dispatched: Any, engine: Any, settings: Any
) -> None:
    """Issue 17: "the OpenAPI document's run representation leaves out `artifact`, `from_version`,
    `to_version`, `traffic` and `rollback_reason`, which the responses carry". Real answers of every
    resource (environments, runs of each kind, artifacts, the audit trail, refusals) are walked key
    by key against the schema, so a field added to a document and not to the schema fails here."""
    import io
    import zipfile

    import yaml

    from portal import actions
    from provisioning.artifacts import artifact_from_bytes

    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    cli = actions.Actor.cli()
    env = make_env("pr1", "dev", status="ready")
    provision = actions.request_deployment(cli, env, "provision", {"verify": True})
    actions.run_deployment(provision.pk)  # steps, checks and outputs, from a real run against moto

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("app.py", "def handle(event, context):\n    return {'statusCode': 200}\n")
    artifact = actions.register_artifact(
        cli, artifact_from_bytes(zipped.getvalue(), handler="app.handle", source="upload app.zip")
    )
    Environment.objects.filter(pk=env.pk).update(status="ready")
    release = actions.request_release(cli, env, artifact=artifact)
    # the release as a worker leaves it (portal.runner._absorb_release): rolled back during its bake
    Deployment.objects.filter(pk=release.pk).update(
        status="failed",
        outcome="rolled_back",
        outputs={
            "artifact_sha256": artifact.sha256,
            "from_version": "1",
            "to_version": "2",
            "traffic": [{"at_s": 0.5, "percent": 10}, {"at_s": 31.2, "percent": 0}],
            "rollback_reason": "alarm envport-pr1-5xx went to ALARM with 10% of traffic",
            "deleted_versions": [],
            "notified": False,
        },
    )
    rollback = actions.request_rollback(cli, make_env("pr2", "dev", status="ready"), "1")

    client.force_login(users["admin"])
    answers: list[tuple[str, str, int, Any]] = [
        ("/api/v1/environments/", "get", 200, client.get("/api/v1/environments/")),
        ("/api/v1/environments/{name}/", "get", 200, client.get("/api/v1/environments/pr1/")),
        ("/api/v1/environments/{name}/runs/", "get", 200, client.get("/api/v1/environments/pr1/runs/")),
        ("/api/v1/audit/", "get", 200, client.get("/api/v1/audit/")),
        ("/api/v1/artifacts/{sha256}/", "get", 200, client.get(f"/api/v1/artifacts/{artifact.sha256}/")),
        ("/api/v1/environments/{name}/", "get", 404, client.get("/api/v1/environments/nope/")),
    ]
    for dep in (provision, release, rollback):
        answers.append(("/api/v1/runs/{id}/", "get", 200, client.get(f"/api/v1/runs/{dep.pk}/")))
    created = client.post(
        "/api/v1/environments/", {"name": "pr3", "stage": "dev"}, content_type="application/json"
    )
    answers.append(("/api/v1/environments/", "post", 201, created))
    runs = "/api/v1/environments/pr3/runs/"
    Environment.objects.filter(suffix="pr3").update(status="ready")
    queued = client.post(runs, {"kind": "verify"}, content_type="application/json")
    answers.append(("/api/v1/environments/{name}/runs/", "post", 202, queued))
    busy = client.post(runs, {"kind": "verify"}, content_type="application/json")
    answers.append(("/api/v1/environments/{name}/runs/", "post", 409, busy))

    problems: list[str] = []
    for path, method, status, response in answers:
        assert response.status_code == status, (path, method, response.content[:300])
        declared = _declared_answer(schema, path, method, status)
        problems += _undeclared(schema, declared, response.json(), "", f"{method.upper()} {path} {status}")
    assert problems == []
    run = schema["components"]["schemas"]["RunOut"]["properties"]
    assert {"artifact", "from_version", "to_version", "traffic", "rollback_reason"} <= set(run)
