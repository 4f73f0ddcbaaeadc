"""GET /api/v1/environments/{name}/logs and /errors (issue 19 item 4): every role reads them within
its token's reach, bad input is a 400 listing what is allowed, key values never appear, and both
are in the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from portal.services import logs as service
from tests.portal.logs_helpers import API_KEY_VALUE, BEARER, FAILED_ID, FAILED_LAMBDA_ID, seed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    service._keys.clear()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_viewer_token_reads_logs_and_errors(
    moto_target: None, make_env: Any, token: Any, api: Any, read_only: bool
) -> None:
    """Viewers may read; a read-only token too (reads are GETs)."""
    env = make_env("dev1")
    seed(env)
    client = api(token("viewer", read_only=read_only))
    logs = client.get(f"/api/v1/environments/{env.suffix}/logs/", request_id=FAILED_ID)
    assert logs.status_code == 200, logs.content
    body = logs.json()
    assert {r["lambda_request_id"] for r in body["rows"]} == {FAILED_LAMBDA_ID}
    assert body["calls"] == 3 and body["truncated"] is False
    errors = client.get(f"/api/v1/environments/{env.suffix}/errors/", since="1h")
    assert errors.status_code == 200
    (group,) = errors.json()["groups"]
    assert (group["exception"], group["count"], group["versions"]) == ("ResourceNotFoundException", 1, ["2"])


def test_key_values_never_appear_in_answers(moto_target: None, make_env: Any, token: Any, api: Any) -> None:
    """Key values and secrets never appear, whatever the function logged."""
    env = make_env("dev1")
    seed(env)
    answer = api(token("admin")).get(f"/api/v1/environments/{env.suffix}/logs/")
    text = answer.content.decode()
    assert answer.status_code == 200 and API_KEY_VALUE not in text and BEARER not in text


def test_out_of_the_tokens_reach_is_404(make_env: Any, token: Any, api: Any) -> None:
    env = make_env("dev1")
    client = api(token("admin", stages=("prod",)))
    for what in ("logs", "errors"):
        answer = client.get(f"/api/v1/environments/{env.suffix}/{what}/")
        assert answer.status_code == 404, answer.content


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"since": "400d"}, "at most 30d"),
        ({"filter": "z" * 5000}, "at most 1024"),
        ({"request_id": "<script>"}, "8 to 64"),
        ({"source": "kinesis"}, "one of function, access"),
        ({"source": "access", "status": "9xx"}, "a class (5xx)"),
    ],
)
def test_bad_input_is_400_listing_what_is_allowed(
    make_env: Any, token: Any, api: Any, params: dict[str, str], fragment: str
) -> None:
    """Hostile query strings are refused before any AWS call (no target is configured here)."""
    env = make_env("dev1")
    answer = api(token("viewer")).get(f"/api/v1/environments/{env.suffix}/logs/", **params)
    assert answer.status_code == 400
    problems = json.dumps(answer.json()["problems"])
    assert fragment in problems


def test_logs_and_errors_are_in_the_openapi_document(client: Any) -> None:
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    logs = schema["paths"]["/api/v1/environments/{name}/logs/"]["get"]
    assert {p["name"] for p in logs["parameters"]} >= {"source", "since", "filter", "request_id", "status"}
    assert {"200", "400", "403", "404"} <= set(logs["responses"])
    assert "/api/v1/environments/{name}/errors/" in schema["paths"]
