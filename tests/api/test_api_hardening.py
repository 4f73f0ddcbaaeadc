"""The API under hostile or careless callers (issue 17, items 6, 7 and 8).

- every answer of /api/v1/ is JSON: an unknown route (404), a body too large (413), nested too
  deep (400), an exception (500 with a request id, no trace);
- `Idempotency-Key` longer than the 255 characters a key is stored in is refused, not truncated;
- the OpenAPI document declares every key the real answers carry;
- long-polls cannot take the web server's threads, and failed authentications are rate limited.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.test import Client

from portal.api import serializers as api_serializers
from portal.api.parsers import MAX_DEPTH, deeper_than
from portal.api.waiting import WaitSlots
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
    # R-SEC-2
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
    # R-SEC-2
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
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    declared = _declared_answer(schema, "/api/v1/environments/{name}/", "get", 500)
    assert _undeclared(schema, declared, body, "", "GET 500") == []  # request_id is in ErrorOut


# --- item 8: Idempotency-Key ------------------------------------------------------------------
def test_an_idempotency_key_over_255_characters_is_refused_not_truncated(
    make_env: Any, operator: Any, dispatched: Any
) -> None:
    """Issue 17: "an `Idempotency-Key` longer than 255 characters is truncated and can collide": two
    pipelines' keys that share their first 255 characters got one run between them."""
    # R-SEC-2
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


@pytest.mark.heavy
def test_the_schema_declares_every_key_the_answers_carry(
    client: Client, make_env: Any, users: Any, dispatched: Any, engine: Any, settings: Any
) -> None:
    """Issue 17: "the OpenAPI document's run representation leaves out `artifact`, `from_version`,
    `to_version`, `traffic` and `rollback_reason`, which the responses carry". Real answers of every
    resource (environments, runs of each kind, artifacts, the audit trail, refusals) are walked key
    by key against the schema, so a field added to a document and not to the schema fails here."""
    import io
    import zipfile

    from portal.services import releases
    from portal.services import runs as run_service
    from portal.services.base import Actor
    from provisioning.artifacts import artifact_from_bytes

    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    cli = Actor.cli()
    env = make_env("pr1", "dev", status="ready")
    provision = run_service.request_deployment(cli, env, "provision", {"verify": True})
    run_service.run_deployment(provision.pk)  # steps, checks and outputs, from a real run against moto

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("app.py", "def handle(event, context):\n    return {'statusCode': 200}\n")
    artifact = releases.register_artifact(
        cli, artifact_from_bytes(zipped.getvalue(), handler="app.handle", source="upload app.zip")
    )
    Environment.objects.filter(pk=env.pk).update(status="ready")
    release = releases.request_release(cli, env, artifact=artifact)
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
    rollback = releases.request_rollback(cli, make_env("pr2", "dev", status="ready"), "1")

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


# --- item 6: the web server cannot be held by waiters ------------------------------------------
class PooledServer(WSGIServer):
    """The production server's shape: a fixed pool of threads per process (gunicorn's gthread
    worker, `--threads`), a request queueing when all are busy. Django's test server starts a
    thread per request instead, so it could never show a pool taken by waiters."""

    request_queue_size = 64

    def __init__(self, threads: int) -> None:
        super().__init__(("127.0.0.1", 0), WSGIRequestHandler)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="web")
        self.set_app(WSGIHandler())

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


@contextmanager
def pooled_server(threads: int) -> Iterator[str]:
    server = PooledServer(threads)
    loop = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    loop.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.pool.shutdown(wait=True, cancel_futures=True)
        server.server_close()


def _get(url: str, token: str | None = None, timeout: float = 40) -> tuple[int, dict[str, str], Any, float]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, headers, raw = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        status, headers, raw = refused.code, dict(refused.headers), refused.read()
    body = json.loads(raw) if headers.get("Content-Type", "").startswith("application/json") else raw
    return status, headers, body, time.monotonic() - started


@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_sixteen_long_polls_from_one_viewer_token_leave_the_server_free(
    make_env: Any, token: Any, settings: Any
) -> None:
    """Issue 17: "16 parallel `?wait=30` long-polls from one viewer token made the admin login page
    take 28.6 s on the production server". Against a server of the production's threads: the
    token's share of waits wait, the others answer at once saying so, and the login page and
    another token's request are served meanwhile."""
    # R-SEC-2
    from portal.services import runs as run_service
    from portal.services.base import Actor

    threads = settings.ENVPORT_WEB_THREADS
    env = make_env("pr1", "dev", status="ready")
    run = run_service.request_deployment(Actor.cli(), env, "verify", {})
    viewer, other = token("viewer"), token("operator")
    polls: list[tuple[int, dict[str, str], Any, float]] = []
    with pooled_server(threads) as base:
        assert _get(f"{base}/api/v1/runs/{run.pk}/", viewer)[0] == 200  # the token's first use is written
        url = f"{base}/api/v1/runs/{run.pk}/?wait=30"
        waiters = [threading.Thread(target=lambda: polls.append(_get(url, viewer))) for _ in range(16)]
        try:
            for waiter in waiters:
                waiter.start()
            deadline = time.monotonic() + 10
            while (
                len(polls) < 16 - settings.ENVPORT_API_MAX_WAITERS_PER_TOKEN and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            skipped = list(polls)
            login = _get(f"{base}/admin/login/", timeout=5)
            others = _get(f"{base}/api/v1/environments/", other, timeout=5)
        finally:
            Deployment.objects.filter(pk=run.pk).update(status="succeeded")  # the waits end
            for waiter in waiters:
                waiter.join(timeout=40)
    assert len(skipped) == 16 - settings.ENVPORT_API_MAX_WAITERS_PER_TOKEN, [p[:2] for p in polls]
    for status, headers, body, seconds in skipped:
        assert status == 200 and body["finished"] is False and seconds < 5
        assert headers["Envport-Wait"].startswith("skipped: this token already waits")
    assert login[0] == 200 and login[3] < 2, login[:2]
    assert others[0] == 200 and others[3] < 2
    waited = [p for p in polls if p not in skipped]
    assert len(waited) == settings.ENVPORT_API_MAX_WAITERS_PER_TOKEN
    assert all(p[2]["finished"] is True and "Envport-Wait" not in p[1] for p in waited)


def test_waits_are_bounded_per_process_and_per_token(settings: Any) -> None:
    """Issue 17, item 6: long-polls "never hold more than a fraction of the server's threads",
    whichever tokens ask; a slot is given back however the wait ends."""
    settings.ENVPORT_API_MAX_WAITERS, settings.ENVPORT_API_MAX_WAITERS_PER_TOKEN = 4, 2
    slots = WaitSlots()
    with ExitStack() as stack:
        got = [stack.enter_context(slots.hold(f"token:{i // 3}")) for i in range(9)]  # 3 tokens, 3 each
        said = [refusal or "" for refusal in got]
        assert got[:2] == [None, None] and said[2].startswith("skipped: this token already waits 2 times")
        assert got[3:5] == [None, None] and said[5].startswith("skipped: this token")
        assert said[6:] == ["skipped: 4 requests already wait in this server process (at most 4)"] * 3
        assert slots.held == 4
    assert slots.held == 0
    with pytest.raises(RuntimeError), slots.hold("token:1"):
        raise RuntimeError("the client went away")
    assert slots.held == 0


def test_the_wait_bounds_follow_the_production_servers_threads(settings: Any) -> None:
    """Issue 17, item 6: the bound is derived from the server's thread count, which is gunicorn's
    `--threads` in both the image and compose; they cannot drift apart unnoticed."""
    root = Path(__file__).resolve().parents[2]
    found = {
        name: re.findall(r"--threads[\", ]+(\d+)", (root / name).read_text())
        for name in ("Dockerfile", "docker-compose.yml")
    }
    assert found == {"Dockerfile": ["8"], "docker-compose.yml": ["8"]}
    assert settings.ENVPORT_WEB_THREADS == 8
    assert settings.ENVPORT_API_MAX_WAITERS <= settings.ENVPORT_WEB_THREADS // 2
    assert 1 <= settings.ENVPORT_API_MAX_WAITERS_PER_TOKEN < settings.ENVPORT_API_MAX_WAITERS


# --- item 6: failed authentications are rate limited per address ------------------------------
@pytest.mark.heavy
def test_failed_api_authentications_are_limited_per_address(token: Any, settings: Any) -> None:
    """Issue 17: "failed authentications are never throttled". Past the limit an address gets a
    JSON 429 with Retry-After, even with a good token; another address is not affected, and the
    address may try again when the window ends."""
    # R-SEC-2
    settings.ENVPORT_AUTH_FAILURES, settings.ENVPORT_AUTH_FAILURE_WINDOW_SECONDS = 5, 60
    good = token("viewer")
    guesser = Client(REMOTE_ADDR="203.0.113.7", raise_request_exception=False)
    bystander = Client(REMOTE_ADDR="198.51.100.2")
    for attempt in range(5):
        guess = {"Authorization": f"Bearer envp_{attempt}_guess"}
        assert guesser.get("/api/v1/environments/", headers=guess).status_code == 401
    assert guesser.get("/api/v1/environments/").status_code == 401  # no token: not a failure counted
    for headers in ({"Authorization": "Bearer envp_9_guess"}, {"Authorization": f"Bearer {good}"}):
        refused = guesser.get("/api/v1/environments/", headers=headers)
        body = _problem(refused, 429)
        assert 55 <= int(refused["Retry-After"]) <= 60
        assert body["error"].startswith("too many failed authentications from your address: at most 5 in 60")
    assert (
        bystander.get("/api/v1/environments/", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    )
    # an IPv6 client is one /64: walking its own network's addresses does not reset the count
    for host in range(6):
        walker = Client(REMOTE_ADDR=f"2001:db8:7:1::{host + 1:x}", raise_request_exception=False)
        answer = walker.get("/api/v1/environments/", headers={"Authorization": "Bearer envp_1_guess"})
        assert answer.status_code == (401 if host < 5 else 429)
    neighbour = Client(REMOTE_ADDR="2001:db8:7:2::1")
    assert (
        neighbour.get("/api/v1/environments/", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    )

    settings.ENVPORT_AUTH_FAILURE_WINDOW_SECONDS = 1
    cache.clear()
    for _ in range(5):
        guesser.get("/api/v1/environments/", headers={"Authorization": "Bearer envp_1_guess"})
    assert (
        guesser.get("/api/v1/environments/", headers={"Authorization": f"Bearer {good}"}).status_code == 429
    )
    time.sleep(1.1)
    assert (
        guesser.get("/api/v1/environments/", headers={"Authorization": f"Bearer {good}"}).status_code == 200
    )


def test_failed_console_sign_ins_are_limited_per_address(users: Any, settings: Any) -> None:
    """Issue 17: failed authentications, "bad password on the admin login": past the limit the
    login page refuses every attempt from the address, the right password too, and says why."""
    # R-SEC-2
    settings.ENVPORT_AUTH_FAILURES, settings.ENVPORT_AUTH_FAILURE_WINDOW_SECONDS = 3, 300
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for attempt in range(3):
        page = guesser.post("/admin/login/", {"username": "admin", "password": f"guess-{attempt}"})
        assert page.status_code == 200 and "correct username and password" in page.content.decode()
    page = guesser.post("/admin/login/", {"username": "admin", "password": "pw-admin"})
    text = page.content.decode()
    assert page.status_code == 200 and "too many failed authentications from your address" in text
    assert "_auth_user_id" not in guesser.session
    # a token guessed from the same address is refused as well: one count per address
    assert (
        guesser.get("/api/v1/environments/", headers={"Authorization": "Bearer envp_1_x"}).status_code == 429
    )
    elsewhere = Client(REMOTE_ADDR="198.51.100.3")
    signed_in = elsewhere.post("/admin/login/", {"username": "admin", "password": "pw-admin"})
    assert signed_in.status_code == 302 and "_auth_user_id" in elsewhere.session
