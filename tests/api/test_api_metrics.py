"""GET /api/v1/environments/{name}/metrics (issue 19 item 4): the traffic view over the API.

moto in decorator mode for the two AWS calls; tokens made through the service as the CLI makes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import pytest
import yaml
from openapi_spec_validator import validate

from portal.models import Deployment, Environment

pytestmark = pytest.mark.django_db
URL = "/api/v1/environments/{}/metrics/"


def put_errors(env: Environment) -> None:
    names = env.spec().names
    dims = [{"Name": "FunctionName", "Value": names.function}]
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    boto3.client("cloudwatch", region_name=env.region).put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": when, "Values": [1, 1, 1]},
            {"MetricName": "Errors", "Dimensions": dims, "Timestamp": when, "Values": [0, 1, 1]},
        ],
    )


def series(body: dict[str, Any], chart: str) -> dict[str, list[float]]:
    found = next(c for c in body["charts"] if c["key"] == chart)
    return {s["label"]: s["values"] for s in found["series"]}


def test_a_viewer_token_reads_the_series_and_the_calls(moto_target, make_env, token, api):
    """issue 19 item 4: viewers may read metrics; the answer carries the series, the runs as links
    and the AWS calls of the view (at most two)."""
    env = make_env("dev1", "dev", status="ready")
    put_errors(env)
    run = Deployment.objects.create(environment=env, kind="provision", status="succeeded")
    client = api(token("viewer", read_only=True))
    answer = client.get(URL.format("dev1"), since="1h")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert series(body, "lambda_invocations") == {"Invocations": [3], "Errors": [2], "Throttles": []}
    assert body["aws_calls"]["by_operation"] == {
        "cloudwatch.DescribeAlarmHistory": 1,
        "cloudwatch.GetMetricData": 1,
    }
    assert (body["range"], body["period_s"], body["cached"]) == ("1h", 60, False)
    assert body["markers"] == [
        {
            "run": run.pk,
            "kind": "provision",
            "status": "succeeded",
            "outcome": None,
            "at": body["markers"][0]["at"],
            "url": f"http://testserver/api/v1/runs/{run.pk}/",
        }
    ]
    again = client.get(URL.format("dev1")).json()  # the default range is 1h: from the cache
    assert again["cached"] is True and series(again, "lambda_invocations")["Errors"] == [2]


def test_out_of_scope_is_404_like_an_absent_environment(make_env, token, api):
    """issue 19 item 4: the token's stages govern metrics; no AWS call is made (no moto here)."""
    make_env("prod", "prod", status="ready")
    client = api(token("admin", stages=["dev", "staging"]))
    hidden, absent = client.get(URL.format("prod")), client.get(URL.format("nosuch"))
    assert (hidden.status_code, absent.status_code) == (404, 404)
    assert hidden.json()["error"] == "unknown environment 'prod'; `manage.py env list` shows the environments"
    assert api(None).get(URL.format("prod")).status_code == 401


@pytest.mark.parametrize("since", ["2h", "x" * 3000, "1h' OR 1=1", "-30d"])
def test_a_range_outside_the_list_is_400_listing_them(make_env, token, api, since):
    """Bounded input: a clear 400 naming the allowed ranges, before any AWS call (no moto here)."""
    make_env("dev1", "dev", status="ready")
    answer = api(token("viewer")).get(URL.format("dev1"), since=since)
    assert answer.status_code == 400
    problems = answer.json()["problems"]
    assert "one of 1h, 6h, 24h, 7d, 30d" in str(problems)
    assert len(answer.content) < 1000


@pytest.mark.heavy
def test_cloudwatch_down_is_502(make_env, token, api, settings):
    """CloudWatch not answering is the portal's upstream failing: 502 with what went wrong."""
    settings.ENVPORT_TARGET = "local"
    settings.ENVPORT_AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.ENVPORT_AWS_RETRY_MODE = "standard"
    make_env("dev1", "dev", status="ready")
    answer = api(token("viewer")).get(URL.format("dev1"))
    assert answer.status_code == 502
    assert "could not read the metrics of dev1 from CloudWatch" in answer.json()["error"]


@pytest.mark.heavy
def test_the_schema_documents_the_endpoint(client):
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    validate(schema)
    get = schema["paths"]["/api/v1/environments/{name}/metrics/"]["get"]
    since = next(p for p in get["parameters"] if p["name"] == "since")
    assert sorted(since["schema"]["enum"]) == sorted(["1h", "6h", "24h", "7d", "30d"])
    assert {"200", "400", "404", "502"} <= set(get["responses"])
