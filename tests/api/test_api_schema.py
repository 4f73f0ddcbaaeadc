"""The OpenAPI schema validates (openapi-spec-validator), names every endpoint of /api/v1/, and the
docs beside it load their files from the portal itself: nothing from a CDN."""

from __future__ import annotations

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def _api_paths() -> set[str]:
    """Every route under api/v1/ in the URLconf, as the schema writes it ({name}, {pk})."""
    found = set()

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and route.startswith("api/v1/"):
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
                found.add(path.replace("{pk}", "{id}"))  # drf-spectacular names a pk "id"

    walk(get_resolver().url_patterns, "")
    return found


@pytest.mark.heavy
def test_the_schema_validates_and_names_every_endpoint(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    validate(schema)
    documented = set(schema["paths"])
    served = _api_paths() - {"/api/v1/schema/", "/api/v1/docs/"}
    assert served == documented
    assert schema["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    runs = schema["paths"]["/api/v1/environments/{name}/runs/"]["post"]
    assert {"202", "400", "401", "403", "404", "409", "429"} <= set(runs["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in runs["parameters"])


def test_the_docs_load_nothing_from_elsewhere(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html[:500]
    assert all(s.startswith("/") for s in sources), sources
    assert "cdn" not in html.lower()
    for source in sources:
        if source.startswith("/static/"):  # whitenoise serves them (collected from the sidecar app)
            assert finders.find(source.removeprefix("/static/")), source


@pytest.mark.heavy
def test_answers_match_the_schema(client, make_env, users, dispatched, engine):
    """The documents the views serve are the shapes the schema promises (nullable fields included)."""
    from openapi_schema_validator import OAS30Validator

    from portal.services import runs as run_service
    from portal.services.base import Actor

    schema = yaml.safe_load(client.get("/api/v1/schema/").content)

    def check(component: str, instance: object) -> None:
        root = {"$ref": f"#/components/schemas/{component}", "components": schema["components"]}
        OAS30Validator(root).validate(instance)

    env = make_env("pr1", "dev", status="ready")
    dep = run_service.request_deployment(Actor.cli(), env, "provision", {"verify": True})
    run_service.run_deployment(dep.pk)
    client.force_login(users["admin"])
    check("EnvironmentOut", client.get("/api/v1/environments/pr1/").json())
    check("PaginatedEnvironmentOutList", client.get("/api/v1/environments/").json())
    check("RunOut", client.get(f"/api/v1/runs/{dep.pk}/").json())
    check("PaginatedRunSummaryOutList", client.get("/api/v1/environments/pr1/runs/").json())
    check("PaginatedAuditEventOutList", client.get("/api/v1/audit/").json())
    check("ErrorOut", client.get("/api/v1/environments/nope/").json())
