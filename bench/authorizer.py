"""Benchmark the gateway's authorization step: a warm request through a method with a cached Lambda
TOKEN authorizer result, a Cognito user pool authorizer and AWS_IAM, against the same method
without authorization.

Starts a local cloud and builds one REST API with boto3 (one function behind five resources: NONE,
CUSTOM with a TTL of 300 s, COGNITO_USER_POOLS, AWS_IAM), warms every path, then sends N
sequential requests to each, interleaved, and reports latency p50/p95 per path and the p50
difference to the plain path. Prints one JSON object as its last line.

    python bench/authorizer.py [--requests 500]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from localcloud import LocalCloud  # noqa: E402

SOURCE = """
import json

def echo(event, context):
    return {"statusCode": 200, "body": "ok"}

def authorize(event, context):
    api = event["methodArn"].split("/")[0]
    return {"principalId": "bench", "context": {"tenant": "t"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": api + "/*"}]}}
"""


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", SOURCE)
    return buffer.getvalue()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def build(cloud: LocalCloud) -> dict[str, Any]:
    lam, apigw, iam, idp = (cloud.client(s) for s in ("lambda", "apigateway", "iam", "cognito-idp"))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="bench-auth", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    arns = {}
    for name, handler in (("bench-echo", "app.echo"), ("bench-authorizer", "app.authorize")):
        arns[name] = lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=role, Handler=handler, Code={"ZipFile": _zip()}
        )["FunctionArn"]
        lam.add_permission(
            FunctionName=name,
            StatementId="apigw",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn="arn:aws:execute-api:us-east-1:123456789012:*",
        )
    api = apigw.create_rest_api(name="bench-auth")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]

    def uri(arn: str) -> str:
        return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"

    pool = idp.create_user_pool(PoolName="bench")["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="bench")["UserPoolClient"][
        "ClientId"
    ]
    idp.admin_create_user(UserPoolId=pool["Id"], Username="bench", MessageAction="SUPPRESS")
    idp.admin_set_user_password(
        UserPoolId=pool["Id"], Username="bench", Password="Passw0rd!Passw0rd", Permanent=True
    )
    id_token = idp.admin_initiate_auth(
        UserPoolId=pool["Id"],
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bench", "PASSWORD": "Passw0rd!Passw0rd"},
    )["AuthenticationResult"]["IdToken"]
    token_authorizer = apigw.create_authorizer(
        restApiId=api,
        name="token",
        type="TOKEN",
        authorizerUri=uri(arns["bench-authorizer"]),
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=300,
    )["id"]
    cognito_authorizer = apigw.create_authorizer(
        restApiId=api,
        name="cognito",
        type="COGNITO_USER_POOLS",
        providerARNs=[pool["Arn"]],
        identitySource="method.request.header.Authorization",
    )["id"]
    modes = {
        "none": ("NONE", None),
        "token_cached": ("CUSTOM", token_authorizer),
        "cognito": ("COGNITO_USER_POOLS", cognito_authorizer),
        "iam": ("AWS_IAM", None),
    }
    for path, (kind, authorizer) in modes.items():
        resource = apigw.create_resource(restApiId=api, parentId=root, pathPart=path)["id"]
        extra = {"authorizerId": authorizer} if authorizer else {}
        apigw.put_method(
            restApiId=api, resourceId=resource, httpMethod="GET", authorizationType=kind, **extra
        )
        apigw.put_integration(
            restApiId=api,
            resourceId=resource,
            httpMethod="GET",
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri(arns["bench-echo"]),
        )
    deployment = apigw.create_deployment(restApiId=api)["id"]
    apigw.create_stage(restApiId=api, stageName="bench", deploymentId=deployment)
    return {"api": api, "paths": list(modes), "id_token": id_token}


def request(url: str, mode: str, built: dict[str, Any]) -> float:
    headers: dict[str, str] = {}
    if mode == "token_cached":
        headers["Authorization"] = "Bearer bench-token"
    elif mode == "cognito":
        headers["Authorization"] = f"Bearer {built['id_token']}"
    elif mode == "iam":
        signed = AWSRequest(method="GET", url=url)
        SigV4Auth(Credentials("bench", "bench"), "execute-api", "us-east-1").add_auth(signed)
        headers = dict(signed.headers.items())
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{mode}: {answer.status}")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with LocalCloud(port=0) as cloud:
        built = build(cloud)
        urls = {mode: cloud.stage_url(built["api"], "bench", f"/{mode}") for mode in built["paths"]}
        for mode, url in urls.items():
            for _ in range(20):
                request(url, mode, built)
        samples: dict[str, list[float]] = {mode: [] for mode in urls}
        for _ in range(args.requests):
            for mode, url in urls.items():
                samples[mode].append(request(url, mode, built))
    base = statistics.median(samples["none"])
    result = {
        "requests_per_path": args.requests,
        "latency_ms": {mode: {"p50": pct(v, 50), "p95": pct(v, 95)} for mode, v in samples.items()},
        "p50_over_none_ms": {
            mode: round(statistics.median(v) - base, 3) for mode, v in samples.items() if mode != "none"
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
