"""The metrics Lambda and API Gateway publish by themselves, and EMF extraction, in the local cloud.

Names, units and dimensions follow "Types of metrics for Lambda functions"
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), "View metrics for
Lambda functions" (dimensions FunctionName, Resource, ExecutedVersion, and none:
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-view.html), "Amazon API Gateway
dimensions and metrics"
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html)
and the embedded metric format specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from localcloud_helpers import Kit, build_zip, http

from localcloud import LocalCloud
from localcloud.cloudwatch import metrics

pytestmark = pytest.mark.slow  # every test below runs functions in worker processes

EMF_SOURCE = """
import json, time

def handler(event, context):
    print(json.dumps({
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": "Shop", "Dimensions": [["Service"], ["Service", "Route"]],
            "Metrics": [{"Name": "ItemsSold", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"}]}]},
        "Service": "cart", "Route": "/buy", "ItemsSold": 3, "Latency": [10, 20, 30]}))
    print('{"_aws": {"Timestamp": "yesterday", "CloudWatchMetrics": []}, "Bad": 1}')
    print("an ordinary line")
    return {"ok": True}
"""


def stats(cloud: LocalCloud, namespace: str, name: str, dims: dict[str, str], **extra: Any) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    answer = cloud.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=1),
        Period=660,
        **({"Statistics": ["Sum", "SampleCount", "Maximum"]} | extra),
    )
    return list(answer["Datapoints"])


def total(cloud: LocalCloud, namespace: str, name: str, dims: dict[str, str]) -> float:
    return sum(p["Sum"] for p in stats(cloud, namespace, name, dims))


def dimension_sets(cloud: LocalCloud, namespace: str, name: str, function: str) -> set[frozenset]:
    # Filtered by the function and read through every page: the session's local cloud holds the
    # metrics of every earlier test, and ListMetrics answers 500 a page.
    pages = (
        cloud.client("cloudwatch")
        .get_paginator("list_metrics")
        .paginate(
            Namespace=namespace, MetricName=name, Dimensions=[{"Name": "FunctionName", "Value": function}]
        )
    )
    listed = [m for page in pages for m in page["Metrics"]]
    sets = {frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed}
    return {s for s in sets if ("FunctionName", function) in s}


def test_gateway_requests_put_lambda_and_api_gateway_metrics(cloud: LocalCloud, kit: Kit) -> None:
    # R-REL-3: the local CloudWatch gets AWS's Lambda and API Gateway metrics for real traffic
    ok, boom = kit.function("app.version"), kit.function("app.boom")
    api = kit.api("metered")
    api.proxy("/ok", "GET", ok["FunctionArn"])
    api.proxy("/boom", "GET", boom["FunctionArn"])
    api.deploy()
    statuses = [http(api.url("/ok")).status for _ in range(3)] + [http(api.url("/boom")).status]
    statuses.append(http(api.url("/nowhere")).status)
    assert statuses == [200, 200, 200, 502, 403]

    name = ok["FunctionName"]
    by_function = {"FunctionName": name}
    by_resource = {"FunctionName": name, "Resource": name}
    assert total(cloud, "AWS/Lambda", "Invocations", by_function) == 3
    assert total(cloud, "AWS/Lambda", "Invocations", by_resource) == 3  # exact dimensions: not 6
    assert total(cloud, "AWS/Lambda", "Errors", by_function) == 0
    assert total(cloud, "AWS/Lambda", "Errors", {"FunctionName": boom["FunctionName"]}) == 1
    assert total(cloud, "AWS/Lambda", "Invocations", {"FunctionName": boom["FunctionName"]}) == 1
    duration = stats(cloud, "AWS/Lambda", "Duration", by_function, ExtendedStatistics=["p90"])
    assert duration[0]["SampleCount"] == 3 and duration[0]["Unit"] == "Milliseconds"
    assert 0 < duration[0]["ExtendedStatistics"]["p90"] <= duration[0]["Maximum"]
    assert stats(cloud, "AWS/Lambda", "ConcurrentExecutions", by_function)[0]["Maximum"] >= 1
    # Unqualified invocations: no ExecutedVersion series (it exists for aliases and versions only).
    assert dimension_sets(cloud, "AWS/Lambda", "Invocations", name) == {
        frozenset(by_function.items()),
        frozenset(by_resource.items()),
    }

    api_name = kit.client("apigateway").get_rest_api(restApiId=api.id)["name"]
    for dims in ({"ApiName": api_name}, {"ApiName": api_name, "Stage": "test"}):
        assert total(cloud, "AWS/ApiGateway", "Count", dims) == 5
        assert total(cloud, "AWS/ApiGateway", "5XXError", dims) == 1
        assert total(cloud, "AWS/ApiGateway", "4XXError", dims) == 1  # the 403 of an unknown path
        assert stats(cloud, "AWS/ApiGateway", "Latency", dims)[0]["SampleCount"] == 5
        integration = stats(cloud, "AWS/ApiGateway", "IntegrationLatency", dims)[0]
        assert integration["SampleCount"] == 4  # the Lambda integration ran four times
        assert integration["Maximum"] <= stats(cloud, "AWS/ApiGateway", "Latency", dims)[0]["Maximum"]


def test_direct_invoke_of_a_version_and_throttles(cloud: LocalCloud, kit: Kit) -> None:
    fn = kit.function("app.direct", permission=False)
    name = fn["FunctionName"]
    aws_lambda = kit.client("lambda")
    version = aws_lambda.publish_version(FunctionName=name)["Version"]
    answer = aws_lambda.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert answer["StatusCode"] == 200 and answer["ExecutedVersion"] == version
    aws_lambda.invoke(FunctionName=name, Payload=b"{}")

    qualified = {"FunctionName": name, "Resource": f"{name}:{version}"}
    assert total(cloud, "AWS/Lambda", "Invocations", {"FunctionName": name}) == 2
    assert total(cloud, "AWS/Lambda", "Invocations", qualified) == 1
    assert total(cloud, "AWS/Lambda", "Invocations", {**qualified, "ExecutedVersion": version}) == 1
    assert total(cloud, "AWS/Lambda", "Invocations", {"FunctionName": name, "Resource": name}) == 1

    aws_lambda.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(aws_lambda.exceptions.TooManyRequestsException):
        aws_lambda.invoke(FunctionName=name, Payload=b"{}")
    assert total(cloud, "AWS/Lambda", "Throttles", {"FunctionName": name}) == 1
    assert (
        total(cloud, "AWS/Lambda", "Invocations", {"FunctionName": name}) == 2
    )  # throttles are not invocations


def test_emf_lines_in_a_functions_log_become_metrics(cloud: LocalCloud, kit: Kit) -> None:
    role = kit.logging_role_arn  # Lambda writes logs (and so EMF) only as the role allows
    fn = kit.function("app.handler", code=build_zip(EMF_SOURCE), permission=False, role=role)
    name = fn["FunctionName"]
    kit.client("logs").create_log_group(logGroupName=f"/aws/lambda/{name}")  # provisioning creates it
    for _ in range(2):
        kit.client("lambda").invoke(FunctionName=name, Payload=b"{}")

    deadline = time.time() + 10  # the log reader thread writes the lines shortly after the answer
    while time.time() < deadline and total(cloud, "Shop", "ItemsSold", {"Service": "cart"}) < 6:
        time.sleep(0.1)
    assert total(cloud, "Shop", "ItemsSold", {"Service": "cart"}) == 6
    assert total(cloud, "Shop", "ItemsSold", {"Service": "cart", "Route": "/buy"}) == 6
    latency = stats(cloud, "Shop", "Latency", {"Service": "cart"}, ExtendedStatistics=["p90"])[0]
    assert latency["SampleCount"] == 6 and latency["Unit"] == "Milliseconds"
    assert latency["ExtendedStatistics"]["p90"] == 30
    assert cloud.client("cloudwatch").list_metrics(MetricName="Bad")["Metrics"] == []


def test_emf_parsing_follows_the_specification() -> None:
    line = json.dumps(
        {
            "_aws": {
                "Timestamp": 1_700_000_000_000,
                "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "M"}]}],
            },
            "M": [1, 2],
        }
    )
    [(namespace, data)] = metrics.emf_metric_data(line)
    assert namespace == "N" and data[0]["Values"] == [1.0, 2.0] and data[0]["Dimensions"] == []
    assert data[0]["Unit"] == "None" and data[0]["Timestamp"] == dt.datetime(2023, 11, 14, 22, 13, 20)
    assert metrics.emf_metric_data("plain text") == [] and metrics.emf_metric_data('{"a": 1}') == []

    def directive(namespace: str, dimensions: list, metric_list: list) -> dict[str, Any]:
        return {"Namespace": namespace, "Dimensions": dimensions, "Metrics": metric_list}

    broken = [
        (directive("AWS/Lambda", [], []), {}),  # AWS/ namespaces are reserved
        (directive("N", [["D"]], []), {}),  # a dimension without its member
        (directive("N", [], [{"Name": "M"}]), {"M": "three"}),  # a value that is not a number
    ]
    for one, members in broken:
        with pytest.raises(metrics.NotEmf):
            metrics.emf_metric_data(
                json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [one]}, **members})
            )
