"""One table of AWS's published quotas (awsquotas/apigateway.json), read by both the engine's rate
limiter and the local cloud's enforcement, so the two cannot drift apart.

Source: "Amazon API Gateway quotas", API Gateway quotas for creating, deploying and managing an API,
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
"""

from __future__ import annotations

import json
from importlib import resources

import awsquotas
from localcloud.apigateway import control_plane_limits
from provisioning import ratelimit

PAGE = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"


def test_the_table_cites_the_aws_page_and_holds_its_numbers() -> None:
    table = awsquotas.apigateway()
    assert table.service == "apigateway" and table.source_url == PAGE
    # "Total operations: 10 requests per second with a burst quota of 40 requests".
    assert table.quotas["*"] == (10, 1, 40)
    # A few rows of the page, as it states them: CreateRestApi 1 per 3 s (regional), DeleteRestApi
    # 1 per 30 s, CreateDeployment 1 per 5 s, GetResources 5 per 2 s.
    assert table.quotas["CreateRestApi"][:2] == (1, 3)
    assert table.quotas["DeleteRestApi"][:2] == (1, 30)
    assert table.quotas["CreateDeployment"][:2] == (1, 5)
    assert table.quotas["GetResources"][:2] == (5, 2)
    raw = json.loads(resources.files("awsquotas").joinpath("apigateway.json").read_text("utf-8"))
    assert len(table.quotas) == len(raw["quotas"]) == 18


def test_the_engine_and_the_local_cloud_read_the_same_table() -> None:
    table = awsquotas.apigateway().quotas
    assert table == control_plane_limits.QUOTAS
    assert control_plane_limits.AWS_QUOTAS_PAGE == ratelimit.AWS_QUOTAS_PAGE == PAGE
    assert {f"apigateway.{op}": quota for op, quota in table.items()} == ratelimit.APIGATEWAY_QUOTAS
