"""The client factory: assumed roles, retry settings, and the call recorder's read/mutating split."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.loaders
import pytest

from provisioning.aws import AwsClients, AwsTarget, CallRecorder, is_read


def test_operations_are_split_into_reads_and_mutations() -> None:
    for op in ("GetRestApis", "DescribeTable", "ListTags", "Query", "Scan", "BatchGetItem", "HeadObject"):
        assert is_read(op), op
    for op in ("CreateTable", "PutMethod", "UpdateStage", "TagResource", "AddPermission", "AssumeRole"):
        assert not is_read(op), op


def test_recorder_counts_calls_per_operation_and_per_resource(mocked_aws: None) -> None:
    recorder = CallRecorder()
    clients = AwsClients(AwsTarget(region="us-east-1"), recorder=recorder)
    sqs = clients.client("sqs")
    before = recorder.snapshot()
    with recorder.attributing("dlq"):
        sqs.create_queue(QueueName="q1")
        sqs.list_queues()
    sqs.list_queues()
    calls = recorder.since(before)
    assert calls.by_operation == {"sqs.CreateQueue": 1, "sqs.ListQueues": 2}
    assert (calls.total, calls.mutating, calls.reads) == (3, 1, 2)
    assert recorder.calls_of("dlq") == 2
    assert clients.client("sqs") is sqs  # one client per service, shared


def test_a_role_per_environment_is_assumed_with_its_external_id(mocked_aws: None) -> None:
    # an environment in its own account: the engine works as the role it names
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(RoleName="envport-deployer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    target = AwsTarget(region="eu-west-1", role_arn=role["Arn"], external_id="ext-123", retry_mode="adaptive")
    clients = AwsClients(target)
    identity = clients.client("sts").get_caller_identity()
    assert ":assumed-role/envport-deployer/envport" in identity["Arn"]
    assert clients.client("dynamodb").meta.region_name == "eu-west-1"
    assert clients.client("dynamodb").meta.config.retries["mode"] == "adaptive"


def test_stage_url_follows_the_configured_template() -> None:
    assert AwsTarget(region="eu-west-2").stage_url("abc123", "prod") == (
        "https://abc123.execute-api.eu-west-2.amazonaws.com/prod"
    )
    local = AwsTarget(
        execute_api_url_template="http://127.0.0.1:4566/restapis/{api_id}/{stage}/_user_request_"
    )
    assert local.stage_url("abc123", "dev") == "http://127.0.0.1:4566/restapis/abc123/dev/_user_request_"


def test_each_runs_clients_read_the_service_models_through_one_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every run has a client factory of its own (a session of its own); each session used to make
    its own loader and parse botocore's model files again, ~2.5 s of CPU per run. A second run's
    clients now open no file."""
    local = "http://127.0.0.1:9"  # never called: making a client sends nothing
    AwsClients(AwsTarget(region="us-east-1", endpoint_url=local)).client("dynamodb")
    opened: list[str] = []
    real = botocore.loaders.JSONFileLoader.load_file

    def counting(self: Any, file_path: str) -> Any:
        opened.append(file_path)
        return real(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counting)
    second = AwsClients(AwsTarget(region="eu-west-1", endpoint_url=local)).client("dynamodb")
    assert second.meta.region_name == "eu-west-1"
    assert second.meta.service_model.service_name == "dynamodb"
    assert opened == []
