"""API Gateway's control-plane quotas (``--quotas aws``): beyond them AWS answers 429
TooManyRequestsException, per account and region.

Quotas: "Amazon API Gateway quotas", API Gateway quotas for creating, deploying and managing an
API (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). The error's
shape: API Gateway's TooManyRequestsException (HTTP 429, ``Retry-After`` header, ``message``),
https://docs.aws.amazon.com/apigateway/latest/api/API_CreateRestApi.html#API_CreateRestApi_Errors
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud import LocalCloud
from localcloud.__main__ import _parser
from localcloud.apigateway.control_plane_limits import operation_of, parse_time_scale

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def quota_cloud() -> Iterator[LocalCloud]:
    with LocalCloud(port=0, quotas="aws", quota_time_scale=1) as running:
        yield running


def _apigw(cloud: LocalCloud, account: str = "123456789012") -> object:
    return boto3.client(
        "apigateway",
        endpoint_url=cloud.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=account,  # a 12-digit key is that account, as moto decides it
        aws_secret_access_key="testing",
        config=NO_RETRY,
    )


# R-FLEET-1
def test_create_rest_api_beyond_one_per_3_s_answers_429_too_many_requests(quota_cloud: LocalCloud) -> None:
    """CreateRestApi: 1 request every 3 seconds per account (regional APIs)."""
    quota_cloud.quotas.reset()
    client = _apigw(quota_cloud)
    client.create_rest_api(name=f"q-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ClientError) as caught:
        client.create_rest_api(name=f"q-{uuid.uuid4().hex[:6]}")
    error = caught.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["Error"]["Message"] == "Too Many Requests"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "TooManyRequestsException"
    assert error["retryAfterSeconds"] in ("2", "3")  # the seconds until the next token
    # the raw body is API Gateway's REST-JSON error
    request = urllib.request.Request(quota_cloud.endpoint_url + "/_localcloud/quotas")
    with urllib.request.urlopen(request) as answer:
        seen = json.load(answer)
    assert seen["enforced"] is True and seen["throttled"] == 1
    assert [c["operation"] for c in seen["calls"]] == ["CreateRestApi", "CreateRestApi"]
    assert [c["admitted"] for c in seen["calls"]] == [True, False]


def test_quotas_are_per_account(quota_cloud: LocalCloud) -> None:
    quota_cloud.quotas.reset()
    _apigw(quota_cloud, "111111111111").create_rest_api(name="a")
    _apigw(quota_cloud, "222222222222").create_rest_api(name="b")  # another account's own bucket
    with pytest.raises(ClientError) as caught:
        _apigw(quota_cloud, "111111111111").create_rest_api(name="c")
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"


def test_every_call_counts_against_the_total_of_10_per_second_burst_40(quota_cloud: LocalCloud) -> None:
    """Total operations: 10 requests per second with a burst quota of 40 requests."""
    quota_cloud.quotas.reset()
    client = _apigw(quota_cloud, "333333333333")
    answers = []
    for _ in range(60):
        try:
            client.get_rest_apis()
            answers.append(True)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "TooManyRequestsException"
            answers.append(False)
    assert all(answers[:40])
    first_refusal = answers.index(False)
    assert 40 <= first_refusal < 55  # the burst, plus what refilled at 10/s meanwhile
    # other services are not throttled by API Gateway's quotas
    sqs = boto3.client("sqs", endpoint_url=quota_cloud.endpoint_url, region_name="us-east-1", config=NO_RETRY)
    for _ in range(5):
        sqs.list_queues()


@pytest.mark.heavy
def test_the_time_scale_speeds_the_quota_clock_up() -> None:
    with LocalCloud(port=0, quotas="aws", quota_time_scale=10) as cloud:  # 1 per 3 s -> 1 per 0.3 s
        client = _apigw(cloud, "444444444444")
        client.create_rest_api(name="first")
        with pytest.raises(ClientError):
            client.create_rest_api(name="too-soon")
        time.sleep(0.35)
        client.create_rest_api(name="next-slot")
        # DeleteRestApi: 1 per 30 s, 1 per 3 s at this scale
        apis = client.get_rest_apis()["items"]
        client.delete_rest_api(restApiId=apis[0]["id"])
        with pytest.raises(ClientError):
            client.delete_rest_api(restApiId=apis[1]["id"])


def test_quotas_are_off_by_default_and_set_from_the_command_line_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOCALCLOUD_QUOTAS", raising=False)
    assert LocalCloud(port=0).quotas is None
    monkeypatch.setenv("LOCALCLOUD_QUOTAS", "aws")
    monkeypatch.setenv("LOCALCLOUD_QUOTA_TIME_SCALE", "10")
    enforced = LocalCloud(port=0).quotas
    assert enforced is not None and enforced.time_scale == 10
    args = _parser().parse_args(["--quotas", "aws", "--quota-time-scale", "10"])
    assert (args.quotas, args.quota_time_scale) == ("aws", 10)
    for bad in ("0.5", "fast", "inf"):
        with pytest.raises(ValueError):
            parse_time_scale(bad)
    monkeypatch.setenv("LOCALCLOUD_QUOTAS", "lots")
    with pytest.raises(ValueError):
        LocalCloud(port=0)


def test_requests_map_to_their_quota_class() -> None:
    assert operation_of("POST", "/restapis") == "CreateRestApi"
    assert operation_of("POST", "/restapis", "mode=import") == "ImportRestApi"
    assert operation_of("DELETE", "/restapis/abc") == "DeleteRestApi"
    assert operation_of("POST", "/restapis/abc/deployments") == "CreateDeployment"
    assert operation_of("GET", "/restapis/abc/resources") == "GetResources"
    assert operation_of("POST", "/restapis/abc/resources/r1") == "CreateResource"
    assert operation_of("PATCH", "/usageplans/u1") == "UpdateUsagePlan"
    assert operation_of("PATCH", "/account") == "UpdateAccount"
    assert operation_of("GET", "/restapis") is None  # the total only
