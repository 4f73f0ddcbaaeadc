"""Issue 21 item 5 in the API: `GET /api/v1/environments/{name}/cost/` and
`GET /api/v1/costs/?by=owner|cost-centre|stage`, read from stored figures, in the OpenAPI
document key by key; viewers read them, an environment out of a token's reach is 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from portal.costs import service
from portal.costs.models import CostEstimate
from portal.models import Environment
from tests.api.test_api_hardening import _declared_answer, _undeclared

pytestmark = pytest.mark.django_db


def _estimated(make_env: Any, suffix: str, **fields: Any) -> CostEstimate:
    env = make_env(suffix, status=Environment.Status.READY, **fields)
    Environment.objects.filter(pk=env.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    env.refresh_from_db()
    record = service.compute(env)
    assert record.ok, record.error
    return record


@pytest.mark.heavy
def test_viewers_read_an_environments_cost_and_the_schema_declares_every_key(
    moto_target: None, make_env: Any, token: Any, api: Any
) -> None:
    """Issue 21 item 5: a viewer's token reads the stored figure with every line; the answer's
    every key is declared in the OpenAPI document (and so is the roll-up's)."""
    record = _estimated(
        make_env, "cst1", owner="team-a", cost_centre="cc-9", expires_at=timezone.now() + dt.timedelta(days=2)
    )
    make_env("cst2", status=Environment.Status.READY)  # no figure yet
    viewer = api(token("viewer"))
    answer = viewer.get("/api/v1/environments/cst1/cost/")
    assert answer.status_code == 200, answer.content
    doc = answer.json()
    assert doc["monthly"] == pytest.approx(float(record.monthly or 0))
    assert doc["estimate"]["fixed"][0]["formula"] and doc["estimate"]["fixed"][0]["source"].startswith(
        "https://"
    )
    assert doc["estimate"]["preview"]["at_expiry"] > 0
    assert doc["last_error"] is None
    none_yet = viewer.get("/api/v1/environments/cst2/cost/").json()
    assert none_yet["estimate"] is None and none_yet["monthly"] is None

    rollup = viewer.get("/api/v1/costs/", by="owner")
    assert rollup.status_code == 200
    body = rollup.json()
    assert body["by"] == "owner" and body["missing"] == ["cst2"]
    assert {g["key"] for g in body["groups"]} == {"team-a", "(none)"}
    assert body["monthly_total"] == pytest.approx(float(record.monthly or 0), abs=1e-4)

    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    problems: list[str] = []
    for path, value in (
        ("/api/v1/environments/{name}/cost/", doc),
        ("/api/v1/environments/{name}/cost/", none_yet),
        ("/api/v1/costs/", body),
    ):
        problems += _undeclared(schema, _declared_answer(schema, path, "get", 200), value, "", f"GET {path}")
    assert problems == []


def test_out_of_reach_is_not_found_and_rollups_cover_only_the_reach(
    moto_target: None, make_env: Any, token: Any, api: Any
) -> None:
    """Issue 21 item 5: a token reaching only dev gets 404 for prod's cost, word for word what an
    absent environment answers, and its roll-up leaves prod out."""
    _estimated(make_env, "dev1", cost_centre="cc-1")
    _estimated(make_env, "prd1", stage="prod", cost_centre="cc-1")
    dev_only = api(token("viewer", stages=("dev",)))
    hidden = dev_only.get("/api/v1/environments/prd1/cost/")
    absent = dev_only.get("/api/v1/environments/nope1/cost/")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.content.decode().replace("prd1", "X") == absent.content.decode().replace("nope1", "X")
    groups = dev_only.get("/api/v1/costs/", by="stage").json()["groups"]
    assert [g["key"] for g in groups] == ["dev"] and groups[0]["environments"] == ["dev1"]
    everything = api(token("viewer")).get("/api/v1/costs/", by="cost-centre").json()["groups"]
    assert everything[0]["environments"] == ["dev1", "prd1"]


@pytest.mark.parametrize("by", ["team", "x" * 5000, "owner'; DROP TABLE x;--", "stage\x00"])
def test_a_bad_grouping_is_refused_naming_the_allowed_ones(token: Any, api: Any, by: str) -> None:
    """Issue 21 item 5, hostile input: `by` other than owner, cost-centre or stage answers 400,
    naming the three, echoing at most 40 characters of what was sent."""
    answer = api(token("viewer")).get("/api/v1/costs/", by=by)
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "cost-centre, owner, stage" in text and "x" * 41 not in text


def test_no_token_no_figures(make_env: Any, api: Any) -> None:
    """Issue 21 item 5: the cost endpoints need a token like every other."""
    make_env("cst9", status=Environment.Status.READY)
    assert api(None).get("/api/v1/environments/cst9/cost/").status_code in (401, 403)
    assert api(None).get("/api/v1/costs/").status_code in (401, 403)


def test_operators_ask_for_actuals_viewers_may_not(
    moto_target: None, make_env: Any, token: Any, api: Any
) -> None:
    """Issue 21 item 4 in the API: `GET .../cost/actuals/` asks Cost Explorer (an AWS call, so it
    needs what computing a figure needs: an operator, not a viewer nor a read-only token) and says
    "not available: <reason>" when there is nothing under the tag; every key is in the schema."""
    _estimated(make_env, "act2")
    assert api(token("viewer")).get("/api/v1/environments/act2/cost/actuals/").status_code == 403
    read_only = api(token("operator", read_only=True)).get("/api/v1/environments/act2/cost/actuals/")
    assert read_only.status_code == 403
    answer = api(token("operator")).get("/api/v1/environments/act2/cost/actuals/")
    assert answer.status_code == 200, answer.content
    doc = answer.json()
    assert not doc["available"] and doc["summary"].startswith(
        "not available: no cost under the tag Environment=act2"
    )
    assert doc["days"] == 7 and doc["total"] is None and doc["difference"] is None
    schema = yaml.safe_load(Client().get("/api/v1/schema/").content)
    path = "/api/v1/environments/{name}/cost/actuals/"
    assert _undeclared(schema, _declared_answer(schema, path, "get", 200), doc, "", path) == []
