"""A stage's access log and detailed metrics, written by the local cloud as API Gateway writes them.

Access logs: https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html and the
``$context`` variables of
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference
Detailed metrics (dimensions ApiName, Method, Resource, Stage):
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from botocore.exceptions import ClientError
from localcloud_helpers import Api, Kit, http

from localcloud import LocalCloud
from localcloud.apigateway.stage_observer import RequestFacts, log_group_name, render_access_log

JSON_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "path": "$context.path",
        "error": "$context.error.message",
        "unknown": "$context.notAVariable",
    }
)


def _stage_with_logs(kit: Kit, group: str, *, metrics_enabled: bool, name: str = "observed") -> Api:
    api = Api(kit, name)
    api.mock("/items/{id}", "GET", body='{"ok": true}')
    api.deploy("test")
    destination = f"arn:aws:logs:{kit.region}:123456789012:log-group:{group}"
    operations = [
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": destination},
        {"op": "replace", "path": "/accessLogSettings/format", "value": JSON_FORMAT},
    ]
    if metrics_enabled:
        operations.append({"op": "replace", "path": "/*/*/metrics/enabled", "value": "true"})
    kit.client("apigateway").update_stage(restApiId=api.id, stageName="test", patchOperations=operations)
    return api


def _events(kit: Kit, group: str, pattern: str = "") -> list[dict]:
    found = kit.client("logs").filter_log_events(logGroupName=group, filterPattern=pattern)
    return [json.loads(event["message"]) for event in found["events"]]


def test_the_stage_access_log_is_written_in_its_format_one_event_per_request(
    cloud: LocalCloud, kit: Kit
) -> None:
    """Issue 19 item 5: one access log event per request, in the stage's format, in its log group."""
    group = f"/aws/apigateway/access-{kit.suffix}"
    kit.client("logs").create_log_group(logGroupName=group)
    api = _stage_with_logs(kit, group, metrics_enabled=False)
    ok = http(api.url("/items/7"), headers={"User-Agent": "probe"})
    missing = http(api.url("/nowhere"))
    assert (ok.status, missing.status) == (200, 403)

    events = _events(kit, group)
    assert len(events) == 2
    first, second = events
    assert first["requestId"] == ok.headers["x-amzn-RequestId"]
    assert first["ip"] == "127.0.0.1"
    assert (first["httpMethod"], first["resourcePath"], first["status"]) == ("GET", "/items/{id}", "200")
    assert first["protocol"] == "HTTP/1.1"
    assert first["responseLength"] == str(len(ok.body))
    assert first["path"] == "/test/items/7"
    assert first["integrationLatency"] == "-"  # a MOCK integration calls no backend
    assert first["unknown"] == "-"
    dt.datetime.strptime(first["requestTime"], "%d/%b/%Y:%H:%M:%S %z")
    assert first["error"] == "-"
    assert (second["status"], second["resourcePath"]) == ("403", "-")  # no resource matched
    assert second["error"] == "Missing Authentication Token"

    # The access log is searchable like any log group (FilterLogEvents' JSON selectors).
    assert [e["status"] for e in _events(kit, group, '{ $.status = "403" }')] == ["403"]


def test_no_log_group_no_access_log(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 19 item 5: API Gateway does not create the destination log group; nothing is written."""
    group = f"/aws/apigateway/absent-{kit.suffix}"
    api = _stage_with_logs(kit, group, metrics_enabled=False)
    assert http(api.url("/items/1")).status == 200
    groups = kit.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert groups == []


def test_detailed_metrics_by_method_and_resource_only_when_enabled(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 19 item 5: metricsEnabled adds Count/Latency by ApiName, Method, Resource, Stage."""
    group = f"/aws/apigateway/detailed-{kit.suffix}"
    kit.client("logs").create_log_group(logGroupName=group)
    plain = _stage_with_logs(kit, group, metrics_enabled=False, name="plain")
    detailed = _stage_with_logs(kit, group, metrics_enabled=True, name="detailed")
    for api in (plain, detailed):
        for _ in range(3):
            assert http(api.url("/items/1")).status == 200
    cw = kit.client("cloudwatch")
    now = dt.datetime.now(dt.UTC)

    def count(api: Api) -> float:
        name = kit.client("apigateway").get_rest_api(restApiId=api.id)["name"]
        answer = cw.get_metric_statistics(
            Namespace="AWS/ApiGateway",
            MetricName="Count",
            Dimensions=[
                {"Name": "ApiName", "Value": name},
                {"Name": "Method", "Value": "GET"},
                {"Name": "Resource", "Value": "/items/{id}"},
                {"Name": "Stage", "Value": "test"},
            ],
            StartTime=now - dt.timedelta(minutes=5),
            EndTime=now + dt.timedelta(minutes=1),
            Period=360,
            Statistics=["Sum"],
        )
        return sum(point["Sum"] for point in answer["Datapoints"])

    assert count(detailed) == 3
    assert count(plain) == 0


def test_render_replaces_known_variables_and_dashes_the_rest() -> None:
    """Issue 19 item 5: $context variables in a CLF-like format; unknown or empty ones are "-"."""
    facts = RequestFacts(
        api_id="a1",
        api_name="shop",
        stage="prod",
        account_id="123456789012",
        region="us-east-1",
        http_method="POST",
        path="/items",
        protocol="HTTP/1.1",
        source_ip="10.0.0.9",
        user_agent="",
        started_at=time.mktime((2026, 12, 7, 17, 0, 0, 0, 0, 0)) - time.timezone,
        status=201,
        response_length=12,
        latency_ms=42.4,
        integration_ms=30.6,
        request_id="r-1",
        resource_path="/items",
    )
    line = render_access_log(
        '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod $context.resourcePath '
        '$context.protocol" $context.status $context.responseLength $context.requestId '
        "$context.integrationLatency $context.identity.userAgent $context.status.",
        facts.context(),
    )
    assert line == '10.0.0.9 - - [07/Dec/2026:17:00:00 +0000] "POST /items HTTP/1.1" 201 12 r-1 31 - 201.'
    assert log_group_name("arn:aws:logs:us-east-1:123456789012:log-group:/a/b:*") == "/a/b"
    assert log_group_name("arn:aws:s3:::bucket") is None


def test_the_engines_access_log_format_gives_one_json_object_per_request(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 19 item 5: the format envport provisions (R-API-4) renders as JSON, with the API key's id."""
    from provisioning.resources.rest_api_parts import ACCESS_LOG_FIELDS, ACCESS_LOG_FORMAT

    group = f"/aws/apigateway/engine-{kit.suffix}"
    kit.client("logs").create_log_group(logGroupName=group)
    api = Api(kit, "engine-format")
    api.mock("/items", "GET", key=True, body="{}")
    api.deploy("test")
    key = api.key()
    destination = f"arn:aws:logs:{kit.region}:123456789012:log-group:{group}"
    kit.client("apigateway").update_stage(
        restApiId=api.id,
        stageName="test",
        patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": destination},
            {"op": "replace", "path": "/accessLogSettings/format", "value": ACCESS_LOG_FORMAT},
        ],
    )
    assert http(api.url("/items"), headers={"x-api-key": key["value"]}).status == 200
    assert http(api.url("/items")).status == 403  # no key
    granted, refused = _events(kit, group)
    assert set(granted) == set(ACCESS_LOG_FIELDS)
    assert (granted["status"], granted["apiKeyId"], granted["errorMessage"]) == ("200", key["id"], "-")
    assert (refused["status"], refused["apiKeyId"], refused["errorMessage"]) == ("403", "-", "Forbidden")
    assert granted["xrayTraceId"].startswith("1-")


def test_update_stage_refuses_access_log_settings_api_gateway_refuses(cloud: LocalCloud, kit: Kit) -> None:
    """Issue 19 item 5: the format needs $context.requestId or extendedRequestId, the destination a
    log group (or an amazon-apigateway-* Firehose stream) ARN; a refused update changes nothing
    (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html)."""
    api = Api(kit, "refusing")
    api.mock("/items", "GET")
    api.deploy("test")
    apigw = kit.client("apigateway")
    group = f"arn:aws:logs:{kit.region}:123456789012:log-group:/aws/apigateway/refusing"

    def update(destination: str, template: str) -> None:
        apigw.update_stage(
            restApiId=api.id,
            stageName="test",
            patchOperations=[
                {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": destination},
                {"op": "replace", "path": "/accessLogSettings/format", "value": template},
            ],
        )

    update(group, '{"id":"$context.extendedRequestId"}')
    for destination, template, says in (
        (group, '{"status":"$context.status"}', "must include at least $context.requestId"),
        (group, "$context.requestIdentity", "must include at least $context.requestId"),
        ("arn:aws:s3:::a-bucket", "$context.requestId", "Invalid ARN"),
        ("not an arn " * 100, "$context.requestId", "Invalid ARN"),
        ("arn:aws:firehose:us-east-1:123456789012:deliverystream/other", "$context.requestId", "Invalid ARN"),
    ):
        with pytest.raises(ClientError) as refused:
            update(destination, template)
        assert refused.value.response["Error"]["Code"] == "BadRequestException"
        assert says in refused.value.response["Error"]["Message"]
        assert len(refused.value.response["Error"]["Message"]) < 600
    stage = apigw.get_stage(restApiId=api.id, stageName="test")
    assert stage["accessLogSettings"] == {
        "destinationArn": group,
        "format": '{"id":"$context.extendedRequestId"}',
    }
    firehose = "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-access"
    update(firehose, "$context.requestId")
    assert (
        apigw.get_stage(restApiId=api.id, stageName="test")["accessLogSettings"]["destinationArn"] == firehose
    )
