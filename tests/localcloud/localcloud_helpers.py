"""Helpers for the local cloud's own tests: a test application zip, plain-urllib HTTP, and builders
for roles, functions and REST APIs made with boto3 (a module with a unique name, so that tests can
import it without clashing with other conftest modules)."""

from __future__ import annotations

import io
import json
import socket
import urllib.error
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass
from email.message import Message
from typing import Any

from botocore.config import Config

from localcloud import LocalCloud

APP_SOURCE = """
import json
import os
import sys
import time

VERSION = "v1"
PREFIXES = ("AWS_", "LAMBDA_", "_HANDLER", "GREETING")


def echo(event, context):
    print("echo handler saw", event.get("path"))
    # Neither print() nor a raw write to fd 1 may corrupt the worker's protocol.
    print('{"type": "result", "request_id": "forged", "ok": true, "payload": "null"}')
    os.write(1, b"raw write to fd 1\\n")
    body = {
        "event": event,
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(),
        },
        "env": {k: v for k, v in os.environ.items() if k.startswith(PREFIXES)},
        "pid": os.getpid(),
        "sys_path0": sys.path[0],
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Handler": "echo"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(body),
    }


def version(event, context):
    return {"statusCode": 200, "body": json.dumps({"version": VERSION, "greeting": os.environ.get("GREETING"),
                                                   "pid": os.getpid()})}


def boom(event, context):
    raise ValueError("boom")


def garbage(event, context):
    return {"status": 200, "body": {"not": "a string"}}


def not_an_object(event, context):
    return "just a string"


def crash(event, context):
    os._exit(3)


def sleepy(event, context):
    query = event.get("queryStringParameters") or {}
    seconds = float(query.get("s", event.get("s", 5)) if isinstance(event, dict) else 5)
    time.sleep(seconds)
    return {"statusCode": 200, "body": json.dumps({"slept": seconds})}


def ddb_put(event, context):
    import boto3  # configured only by the environment the runtime gives the function

    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    table.put_item(Item={"id": event["id"], "by": context.function_name})
    return {"ok": True}


def direct(event, context):
    print("direct invoke", json.dumps(event))
    return {"got": event, "request_id": context.aws_request_id}
"""

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET,OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type,X-Amz-Date,Authorization,X-Api-Key",
}


def build_zip(source: str = APP_SOURCE, name: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buffer.getvalue()


@dataclass
class HttpResponse:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: bytes | None = None
) -> HttpResponse:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return HttpResponse(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, error.headers, error.read())


@dataclass
class RawResponse:
    """What a raw socket got back: ``status`` is None when the server answered nothing."""

    status: int | None
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_http(cloud: LocalCloud, data: bytes, *, timeout: float = 5.0) -> RawResponse:
    """Send bytes as they are (no client fixes them up) and read the answer until the server closes.

    For requests that no HTTP client would send: a malformed request line, oversized headers, a
    ``Content-Length`` without its body."""
    with socket.create_connection((cloud.host, cloud.port), timeout=timeout) as sock:
        sock.sendall(data)
        return parse_raw_response(read_until_closed(sock))


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass  # what arrived before is the answer (or its absence)
    return received


def parse_raw_response(received: bytes) -> RawResponse:
    if not received.startswith(b"HTTP/"):
        return RawResponse(None, {}, received)
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return RawResponse(int(status_line.split()[1]), headers, body)


class Api:
    """A REST API built call by call, the way the provisioning engine does it."""

    def __init__(self, kit: Kit, name: str, binary_media_types: list[str] | None = None) -> None:
        self.kit = kit
        self.apigw = kit.client("apigateway")
        extra = {"binaryMediaTypes": binary_media_types} if binary_media_types else {}
        self.id = self.apigw.create_rest_api(name=f"{name}-{kit.suffix}", **extra)["id"]
        root = next(r for r in self.apigw.get_resources(restApiId=self.id)["items"] if r["path"] == "/")
        self.resources: dict[str, str] = {"/": root["id"]}

    def resource(self, path: str) -> str:
        if path in self.resources:
            return self.resources[path]
        parent_path, _, part = path.rstrip("/").rpartition("/")
        parent = self.resource(parent_path or "/")
        created = self.apigw.create_resource(restApiId=self.id, parentId=parent, pathPart=part)
        self.resources[path] = created["id"]
        return created["id"]

    def proxy(
        self, path: str, verb: str, function_arn: str, *, key: bool = False, timeout_ms: int | None = None
    ):
        resource = self.resource(path)
        self.apigw.put_method(
            restApiId=self.id,
            resourceId=resource,
            httpMethod=verb,
            authorizationType="NONE",
            apiKeyRequired=key,
        )
        extra = {"timeoutInMillis": timeout_ms} if timeout_ms else {}
        self.apigw.put_integration(
            restApiId=self.id,
            resourceId=resource,
            httpMethod=verb,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=f"arn:aws:apigateway:{self.kit.region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
            **extra,
        )

    def mock(
        self,
        path: str,
        verb: str,
        headers: dict[str, str] | None = None,
        *,
        key: bool = False,
        status: str = "200",
        body: str = "",
    ) -> None:
        resource = self.resource(path)
        headers = headers or {}
        self.apigw.put_method(
            restApiId=self.id,
            resourceId=resource,
            httpMethod=verb,
            authorizationType="NONE",
            apiKeyRequired=key,
        )
        self.apigw.put_method_response(
            restApiId=self.id,
            resourceId=resource,
            httpMethod=verb,
            statusCode=status,
            responseParameters={f"method.response.header.{h}": False for h in headers},
        )
        self.apigw.put_integration(
            restApiId=self.id,
            resourceId=resource,
            httpMethod=verb,
            type="MOCK",
            requestTemplates={"application/json": f'{{"statusCode": {status}}}'},
        )
        self.set_mock_response(path, verb, headers, status=status, body=body)

    def set_mock_response(
        self, path: str, verb: str, headers: dict[str, str], *, status: str = "200", body: str = ""
    ) -> None:
        self.apigw.put_integration_response(
            restApiId=self.id,
            resourceId=self.resource(path),
            httpMethod=verb,
            statusCode=status,
            responseParameters={f"method.response.header.{h}": f"'{v}'" for h, v in headers.items()},
            responseTemplates={"application/json": body},
        )

    def gateway_response(self, kind: str, headers: dict[str, str]) -> None:
        self.apigw.put_gateway_response(
            restApiId=self.id,
            responseType=kind,
            responseParameters={f"gatewayresponse.header.{h}": f"'{v}'" for h, v in headers.items()},
        )

    def deploy(
        self, stage: str = "test", variables: dict[str, str] | None = None, move_stage: bool = True
    ) -> str:
        deployment = self.apigw.create_deployment(restApiId=self.id)["id"]
        if not move_stage:
            return deployment
        stages = {s["stageName"] for s in self.apigw.get_stages(restApiId=self.id)["item"]}
        if stage in stages:
            self.apigw.update_stage(
                restApiId=self.id,
                stageName=stage,
                patchOperations=[{"op": "replace", "path": "/deploymentId", "value": deployment}],
            )
        else:
            self.apigw.create_stage(
                restApiId=self.id, stageName=stage, deploymentId=deployment, variables=variables or {}
            )
        return deployment

    def url(self, path: str, stage: str = "test") -> str:
        return self.kit.cloud.stage_url(self.id, stage, path)

    def key(
        self,
        *,
        stage: str = "test",
        enabled: bool = True,
        throttle: dict[str, Any] | None = None,
        quota: dict[str, Any] | None = None,
        attach: bool = True,
    ) -> dict[str, str]:
        """An API key, and (if attach) a usage plan of this API stage with the key in it."""
        created = self.apigw.create_api_key(name=f"key-{uuid.uuid4().hex[:8]}", enabled=enabled)
        if attach:
            plan_args: dict[str, Any] = {
                "name": f"plan-{uuid.uuid4().hex[:8]}",
                "apiStages": [{"apiId": self.id, "stage": stage}],
            }
            if throttle:
                plan_args["throttle"] = throttle
            if quota:
                plan_args["quota"] = quota
            plan = self.apigw.create_usage_plan(**plan_args)
            self.apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=created["id"], keyType="API_KEY")
        return {"id": created["id"], "value": created["value"]}


# What AWSLambdaBasicExecutionRole allows: create log groups, write log streams.
LOG_WRITER_STATEMENT = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "*",
}


class Kit:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.region = cloud.region
        self.suffix = uuid.uuid4().hex[:8]
        self._role_arn: str | None = None
        self._logging_role_arn: str | None = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            # No retries: a 429 or 500 from the emulator must surface at once.
            self._clients[service] = self.cloud.client(
                service, config=Config(retries={"total_max_attempts": 1, "mode": "standard"})
            )
        return self._clients[service]

    @property
    def role_arn(self) -> str:
        if self._role_arn is None:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            role = self.client("iam").create_role(
                RoleName=f"localcloud-test-{self.suffix}", AssumeRolePolicyDocument=json.dumps(trust)
            )
            self._role_arn = role["Role"]["Arn"]
        return self._role_arn

    def role(self, statements: list[dict[str, Any]]) -> str:
        """A new execution role (Lambda may assume it) whose inline policy holds ``statements``."""
        name = f"localcloud-test-{self.suffix}-{uuid.uuid4().hex[:6]}"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam = self.client("iam")
        arn = str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
        if statements:
            document = {"Version": "2012-10-17", "Statement": statements}
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(document))
        return arn

    @property
    def logging_role_arn(self) -> str:
        """A role with the log permissions of AWSLambdaBasicExecutionRole: Lambda creates the function's
        log group and writes to it (the default role has no policy, so its functions write no logs)."""
        if self._logging_role_arn is None:
            self._logging_role_arn = self.role([LOG_WRITER_STATEMENT])
        return self._logging_role_arn

    def function(
        self,
        handler: str,
        *,
        timeout: int = 3,
        env: dict[str, str] | None = None,
        permission: bool = True,
        code: bytes | None = None,
        name: str | None = None,
        role: str | None = None,
    ) -> dict[str, Any]:
        name = name or f"{handler.split('.')[-1].replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        created = self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role or self.role_arn,
            Handler=handler,
            Code={"ZipFile": code or build_zip()},
            Timeout=timeout,
            MemorySize=128,
            Environment={"Variables": env or {}},
        )
        if permission:
            self.permission(name)
        return created

    def permission(self, name: str, qualifier: str | None = None, source_arn: str | None = None) -> None:
        """Let API Gateway (any API of the account) invoke the function, or only its version or alias
        ``qualifier``: a permission covers the one ARN it was added to."""
        extra = {"Qualifier": qualifier} if qualifier else {}
        self.client("lambda").add_permission(
            FunctionName=name,
            StatementId=f"apigateway-invoke-{qualifier or 'function'}".replace("$", ""),
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=source_arn or f"arn:aws:execute-api:{self.region}:123456789012:*/*/*/*",
            **extra,
        )

    def api(self, name: str, binary_media_types: list[str] | None = None) -> Api:
        return Api(self, name, binary_media_types)
