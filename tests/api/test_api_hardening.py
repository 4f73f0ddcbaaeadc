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
