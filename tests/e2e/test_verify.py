"""Provision with the engine into the local cloud, then verify over real HTTP (R-VER-1..4).

Verification that cannot fail proves nothing: each break below makes exactly the matching
check fail, with a message that says what was expected and what was found.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import pytest

from localcloud import LocalCloud
from provisioning import http
from provisioning.aws import AwsTarget
from provisioning.engine import UNUSED_RESOURCE, Engine
from provisioning.resources import resources_for
from provisioning.resources.base import Context
from provisioning.spec import EnvironmentSpec, build_spec
from provisioning.verify import VerifyReport, verify

pytestmark = pytest.mark.slow


def _spec(suffix: str) -> EnvironmentSpec:
    return build_spec(suffix=suffix, stage="dev", alarm_emails=["ops@example.com"])


def _verify(spec: EnvironmentSpec, target: AwsTarget) -> VerifyReport:
    return verify(spec, target, settle_s=2.0)


def _apply(spec: EnvironmentSpec, target: AwsTarget) -> dict[str, Any]:
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    return result.outputs


def _failed(report: VerifyReport) -> dict[str, Any]:
    return {c.name: (c.expected, c.found) for c in report.failed}


def _redeploy(cloud: LocalCloud, api_id: str, stage: str) -> None:
    apigw = cloud.client("apigateway")
    deployment = apigw.create_deployment(restApiId=api_id)["id"]
    apigw.update_stage(
        restApiId=api_id,
        stageName=stage,
        patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
    )


def test_a_fresh_environment_passes_every_check(local_cloud: LocalCloud, target: AwsTarget) -> None:
    # R-VER-1, R-VER-2, R-VER-3, R-VER-4
    spec = _spec("ver-ok")
    outputs = _apply(spec, target)
    report = _verify(spec, target)
    assert report.ok, _failed(report)
    names = [c.name for c in report.checks]
    for journey in (
        "create item",
        "read item",
        "update item",
        "read back update",
        "list items",
        "delete item",
        "read deleted item",
    ):
        assert journey in names
    for negative in ("no api key", "wrong api key", "invalid json", "unknown id", "cors preflight"):
        assert negative in names
    # a check per resource the spec wants, and one for the other modes' resources, found absent
    probe = Context(spec=spec, aws=None)  # type: ignore[arg-type]  # `wanted` reads the spec only
    wanted = [r for r in resources_for(spec) if r.wanted(probe)]
    assert sum(1 for n in names if n.startswith("live config: ")) == len(wanted) + 1
    unused = report.check(f"live config: {UNUSED_RESOURCE}")
    assert unused.passed and unused.found.startswith("11 resources, absent as expected")
    http_checks = [c for c in report.checks if c.requirement in ("R-VER-1", "R-VER-2")]
    assert all(c.status is not None and c.latency_ms is not None and c.latency_ms > 0 for c in http_checks)
    assert all(c.expected and c.found for c in report.checks)
    # nothing left behind
    key = local_cloud.client("apigateway").get_api_key(apiKey=outputs["api_key_id"], includeValue=True)[
        "value"
    ]
    # The journey spent the stage's token bucket (burst 5 for dev): wait until it is full again.
    time.sleep(spec.settings.throttle_burst / spec.settings.throttle_rate)
    listed = http.request("GET", outputs["api_endpoint"] + "/items?limit=100", headers={"x-api-key": key})
    assert listed.status == 200 and listed.json()["items"] == []


def test_dropping_api_key_required_fails_the_matching_checks(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-VER-2, R-VER-3
    spec = _spec("ver-nokey")
    outputs = _apply(spec, target)
    apigw = local_cloud.client("apigateway")
    items = next(
        r for r in apigw.get_resources(restApiId=outputs["api_id"])["items"] if r["path"] == "/items"
    )
    apigw.update_method(
        restApiId=outputs["api_id"],
        resourceId=items["id"],
        httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/apiKeyRequired", "value": "false"}],
    )
    _redeploy(local_cloud, outputs["api_id"], "dev")
    report = _verify(spec, target)
    failed = _failed(report)
    assert failed["no api key"][0] == "HTTP 403" and failed["no api key"][1].startswith("HTTP 200")
    assert failed["wrong api key"][1].startswith("HTTP 200")
    assert "method:GET /items.apiKeyRequired=true" in failed["live config: rest_api"][0]
    assert "method:GET /items.apiKeyRequired=false" in failed["live config: rest_api"][1]
    assert report.check("create item").passed  # the rest still works


def test_detaching_the_key_from_the_usage_plan_fails_the_journey(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-VER-1, R-VER-3
    spec = _spec("ver-detach")
    outputs = _apply(spec, target)
    local_cloud.client("apigateway").delete_usage_plan_key(
        usagePlanId=outputs["usage_plan_id"], keyId=outputs["api_key_id"]
    )
    report = _verify(spec, target)
    failed = _failed(report)
    assert failed["create item"][0].startswith("HTTP 201")
    assert failed["create item"][1].startswith("HTTP 403")
    assert "usage_plan.keys" in failed["live config: usage_plan"][0]


def _raising_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lambda_bundle/__init__.py", "")
        zf.writestr(
            "lambda_bundle/handler.py",
            "def lambda_handler(event, context):\n    raise RuntimeError('broken on purpose')\n",
        )
    return buffer.getvalue()


def test_a_function_that_raises_fails_the_journey_and_leaves_nothing(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-VER-1, R-VER-3
    spec = _spec("ver-raise")
    outputs = _apply(spec, target)
    lam = local_cloud.client("lambda")  # bad code shipped by hand, past the portal: a version behind live
    lam.update_function_code(FunctionName=outputs["function_name"], ZipFile=_raising_zip())
    version = lam.publish_version(FunctionName=outputs["function_name"])["Version"]
    lam.update_alias(FunctionName=outputs["function_name"], Name="live", FunctionVersion=version)
    report = _verify(spec, target)
    failed = _failed(report)
    assert failed["create item"][0].startswith("HTTP 201")
    assert failed["create item"][1].startswith("HTTP 502")
    assert "CodeSha256" in failed["live config: function"][0]
    # the repair is a provision run; after it, everything passes again
    _apply(spec, target)
    assert _verify(spec, target).ok


def test_two_environments_do_not_see_each_others_data_or_keys(
    local_cloud: LocalCloud, target: AwsTarget
) -> None:
    # R-ENV-1, R-API-2
    a, b = _spec("side-a"), _spec("side-b")
    out_a, out_b = _apply(a, target), _apply(b, target)
    apigw = local_cloud.client("apigateway")
    key_a = apigw.get_api_key(apiKey=out_a["api_key_id"], includeValue=True)["value"]
    key_b = apigw.get_api_key(apiKey=out_b["api_key_id"], includeValue=True)["value"]
    created = http.request(
        "POST",
        out_a["api_endpoint"] + "/items",
        headers={"x-api-key": key_a},
        body=json.dumps({"name": "only in a"}),
    )
    assert created.status == 201
    assert http.request("GET", out_b["api_endpoint"] + "/items", headers={"x-api-key": key_a}).status == 403
    assert http.request("GET", out_a["api_endpoint"] + "/items", headers={"x-api-key": key_b}).status == 403
    in_b = http.request("GET", out_b["api_endpoint"] + "/items", headers={"x-api-key": key_b})
    assert in_b.status == 200 and in_b.json()["items"] == []
    item_id = created.json()["id"]
    assert (
        http.request("GET", f"{out_b['api_endpoint']}/items/{item_id}", headers={"x-api-key": key_b}).status
        == 404
    )
    assert _verify(a, target).ok and _verify(b, target).ok
