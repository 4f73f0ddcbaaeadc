"""POST/GET /api/v1/environments/{name}/restore/ (issue 20): hostile bodies and tokens refused
before anything is queued; the retained tables listed; every answer's keys declared in the schema."""

from __future__ import annotations

from typing import Any

import pytest

from portal.models import Deployment

pytestmark = pytest.mark.django_db


@pytest.fixture
def envs(make_env: Any) -> dict[str, Any]:
    return {
        "dev": make_env("pr1", "dev", status="ready"),
        "staging": make_env("stage1", "staging", status="ready"),
        "prod": make_env("prod1", "prod", status="ready"),
    }


def test_the_api_refuses_hostile_bodies_and_read_only_tokens(envs: Any, api: Any, token: Any) -> None:
    # R-REC-1
    client = api(token("operator"))
    url = "/api/v1/environments/pr1/restore/"
    assert client.post(url, {"to_time": "x" * 65}).status_code == 400
    assert client.post(url, {"mask": ["e"] * 17, "from_environment": "stage1"}).status_code == 400
    unknown = client.post(url, {"backup": "latest", "drop_tables": True})
    assert unknown.status_code == 400 and "drop_tables" in unknown.content.decode()
    bad = client.post(url, {"to_time": "2001-01-01T00:00:00Z"})
    assert bad.status_code == 400 and "within the last 35 days" in bad.content.decode()
    assert client.post("/api/v1/environments/prod1/restore/", {"backup": "latest"}).status_code == 403
    read_only = api(token("admin", read_only=True))
    assert read_only.post(url, {"backup": "latest"}).status_code == 403
    assert not Deployment.objects.exists()


def test_a_queued_restore_answers_202_with_the_run(envs: Any, api: Any, token: Any, dispatched: Any) -> None:
    # R-REC-1
    client = api(token("operator"))
    answer = client.post("/api/v1/environments/pr1/restore/", {"backup": "latest", "retain_days": 3})
    assert answer.status_code == 202, answer.content
    run = answer.json()
    assert run["kind"] == "restore" and answer["Location"] == run["url"]
    assert [d.pk for d in dispatched] == [run["id"]]
    dep = Deployment.objects.get()
    assert dep.options["request"]["retention_days"] == 3 and dep.options["backup"] == "latest"


def test_the_schema_declares_every_key_the_restore_answers_carry(
    client: Any, envs: Any, users: Any, dispatched: Any
) -> None:
    # R-REC-1
    """The queued run, a refusal and a conflict are walked key by key against the OpenAPI document."""
    import yaml

    from tests.api.test_api_hardening import _declared_answer, _undeclared

    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    client.force_login(users["admin"])
    url = "/api/v1/environments/pr1/restore/"
    path = "/api/v1/environments/{name}/restore/"
    answers = [
        (path, "post", 202, client.post(url, {"backup": "latest"}, content_type="application/json")),
        (path, "post", 409, client.post(url, {"backup": "latest"}, content_type="application/json")),
        (path, "post", 400, client.post(url, {"to_time": "soon"}, content_type="application/json")),
    ]
    problems: list[str] = []
    for where, method, status, response in answers:
        assert response.status_code == status, (where, response.content[:300])
        declared = _declared_answer(schema, where, method, status)
        problems += _undeclared(schema, declared, response.json(), "", f"{method.upper()} {where} {status}")
    assert problems == []
    assert set(schema["paths"][path]) == {"get", "post"}
    listing = schema["components"]["schemas"]["RetainedListOut"]["properties"]
    assert set(listing) == {"environment", "table_name", "retained_tables"}
