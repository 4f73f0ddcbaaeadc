"""The fidelity fixes make moto 5.2.5 answer like AWS, in decorator mode and in server mode."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from localcloud import fidelity

REGION = "us-east-1"
# Fail fast: moto answers HTTP 500 for what it does not implement, and botocore retries 500s.
NO_RETRY = Config(retries={"total_max_attempts": 1})
MODES = ["decorator", "server"]

ClientFactory = Callable[[str], object]


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    """boto3 client factory; decorator mode unless the test is parametrized with mode='server'."""
    mode = getattr(request, "param", "decorator")
    fidelity.apply()
    if mode == "server":
        url = request.getfixturevalue("moto_server")
        yield lambda service: boto3.client(service, region_name=REGION, endpoint_url=url, config=NO_RETRY)
    else:
        with mock_aws():
            yield lambda service: boto3.client(service, region_name=REGION, config=NO_RETRY)


both_modes = pytest.mark.parametrize("client", MODES, indirect=True)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def rest_api(ag, name: str = "fidelity") -> tuple[str, str]:
    api_id = ag.create_rest_api(name=name)["id"]
    root_id = ag.get_resources(restApiId=api_id)["items"][0]["id"]
    item_id = ag.create_resource(restApiId=api_id, parentId=root_id, pathPart="items")["id"]
    return api_id, item_id


LAMBDA_URI = (
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:us-east-1:123456789012:function:crud-fn/invocations"
)


def api_with_mock_get(ag) -> tuple[str, str]:
    api_id, res = rest_api(ag)
    ag.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    ag.put_integration(
        restApiId=api_id,
        resourceId=res,
        httpMethod="GET",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    ag.put_method_response(restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200")
    ag.put_integration_response(
        restApiId=api_id,
        resourceId=res,
        httpMethod="GET",
        statusCode="200",
        responseTemplates={"application/json": ""},
    )
    return api_id, res


# ---------------------------------------------------------------------------------------------
# apply() and FIXES
# ---------------------------------------------------------------------------------------------


def test_apply_twice_is_harmless() -> None:
    from moto.apigateway.responses import APIGatewayResponse
    from moto.awslambda.models import LambdaFunction

    fidelity.apply()
    installed = (
        APIGatewayResponse.update_method,
        APIGatewayResponse.put_method,
        LambdaFunction.get_configuration,
    )
    fidelity.apply()
    fidelity.apply()
    assert (
        APIGatewayResponse.update_method,
        APIGatewayResponse.put_method,
        LambdaFunction.get_configuration,
    ) == installed
    # A wrapper is installed once: what it wraps is moto's own function, not another wrapper.
    assert not hasattr(LambdaFunction.get_configuration.__wrapped__, "__localcloud_fidelity__")
    assert not hasattr(APIGatewayResponse.put_method.__wrapped__, "__localcloud_fidelity__")

    with mock_aws():
        ag = boto3.client("apigateway", region_name=REGION)
        api_id, res = api_with_mock_get(ag)
        with pytest.raises(ClientError) as exc:
            ag.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
        assert error_code(exc) == ("ConflictException", 409)


def test_fixes_are_documented() -> None:
    names = [fix.name for fix in fidelity.FIXES]
    assert len(names) == len(set(names)) >= 6
    for fix in fidelity.FIXES:
        assert fix.moto_behaviour and fix.aws_behaviour
        assert callable(fix.install) and fix.install.__doc__


# ---------------------------------------------------------------------------------------------
# 1. update_method
# ---------------------------------------------------------------------------------------------


@both_modes
def test_update_method_applies_patch_operations(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, res = api_with_mock_get(ag)
    ag.put_method(
        restApiId=api_id,
        resourceId=res,
        httpMethod="POST",
        authorizationType="NONE",
        apiKeyRequired=False,
        requestParameters={"method.request.querystring.q": False},
    )
    ag.put_integration(
        restApiId=api_id,
        resourceId=res,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=LAMBDA_URI,
    )

    updated = ag.update_method(
        restApiId=api_id,
        resourceId=res,
        httpMethod="POST",
        patchOperations=[
            {"op": "replace", "path": "/apiKeyRequired", "value": "true"},
            {"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"},
            {"op": "replace", "path": "/operationName", "value": "CreateItem"},
            {"op": "add", "path": "/requestParameters/method.request.header.X-Request-Id", "value": "true"},
            {"op": "remove", "path": "/requestParameters/method.request.querystring.q"},
            {"op": "add", "path": "/requestModels/application~1json", "value": "Empty"},
            {"op": "add", "path": "/authorizationScopes", "value": "items/write"},
        ],
    )

    assert updated["apiKeyRequired"] is True
    assert updated["authorizationType"] == "AWS_IAM"
    assert updated["operationName"] == "CreateItem"
    assert updated["requestParameters"] == {"method.request.header.X-Request-Id": True}
    assert updated["requestModels"] == {"application/json": "Empty"}
    assert updated["authorizationScopes"] == ["items/write"]
    got = ag.get_method(restApiId=api_id, resourceId=res, httpMethod="POST")
    assert {
        k: got[k] for k in ("apiKeyRequired", "authorizationType", "operationName", "requestParameters")
    } == {
        k: updated[k] for k in ("apiKeyRequired", "authorizationType", "operationName", "requestParameters")
    }
    assert got["methodIntegration"]["uri"] == LAMBDA_URI  # the integration is kept

    ag.update_method(
        restApiId=api_id,
        resourceId=res,
        httpMethod="POST",
        patchOperations=[{"op": "replace", "path": "/apiKeyRequired", "value": "false"}],
    )
    assert ag.get_method(restApiId=api_id, resourceId=res, httpMethod="POST")["apiKeyRequired"] is False

    with pytest.raises(ClientError) as exc:
        ag.update_method(
            restApiId=api_id,
            resourceId=res,
            httpMethod="POST",
            patchOperations=[{"op": "replace", "path": "/noSuchField", "value": "x"}],
        )
    assert error_code(exc) == ("BadRequestException", 400)
    with pytest.raises(ClientError) as exc:
        ag.update_method(
            restApiId=api_id,
            resourceId=res,
            httpMethod="PATCH",
            patchOperations=[{"op": "replace", "path": "/apiKeyRequired", "value": "true"}],
        )
    assert error_code(exc) == ("NotFoundException", 404)


# ---------------------------------------------------------------------------------------------
# 2. update_integration
# ---------------------------------------------------------------------------------------------


@both_modes
def test_update_integration_applies_patch_operations(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, res = rest_api(ag)
    ag.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    ag.put_integration(
        restApiId=api_id,
        resourceId=res,
        httpMethod="GET",
        type="HTTP",
        integrationHttpMethod="GET",
        uri="https://backend.example.com/v1/items",
        passthroughBehavior="WHEN_NO_MATCH",
        timeoutInMillis=29000,
    )

    updated = ag.update_integration(
        restApiId=api_id,
        resourceId=res,
        httpMethod="GET",
        patchOperations=[
            {"op": "replace", "path": "/uri", "value": "https://backend.example.com/v2/items"},
            {"op": "replace", "path": "/httpMethod", "value": "POST"},
            {"op": "replace", "path": "/timeoutInMillis", "value": "10000"},
            {"op": "replace", "path": "/passthroughBehavior", "value": "NEVER"},
            {
                "op": "add",
                "path": "/requestTemplates/application~1json",
                "value": '{"q": "$input.params(\'q\')"}',
            },
            {"op": "add", "path": "/cacheKeyParameters/method.request.querystring.q"},
        ],
    )

    expected = {
        "uri": "https://backend.example.com/v2/items",
        "httpMethod": "POST",
        "timeoutInMillis": 10000,
        "passthroughBehavior": "NEVER",
        "requestTemplates": {"application/json": '{"q": "$input.params(\'q\')"}'},
        "cacheKeyParameters": ["method.request.querystring.q"],
    }
    assert {k: updated[k] for k in expected} == expected
    got = ag.get_integration(restApiId=api_id, resourceId=res, httpMethod="GET")
    assert {k: got[k] for k in expected} == expected

    ag.update_integration(
        restApiId=api_id,
        resourceId=res,
        httpMethod="GET",
        patchOperations=[{"op": "remove", "path": "/requestTemplates/application~1json"}],
    )
    assert "requestTemplates" not in ag.get_integration(restApiId=api_id, resourceId=res, httpMethod="GET")

    ag.put_method(restApiId=api_id, resourceId=res, httpMethod="DELETE", authorizationType="NONE")
    with pytest.raises(ClientError) as exc:
        ag.update_integration(
            restApiId=api_id,
            resourceId=res,
            httpMethod="DELETE",
            patchOperations=[{"op": "replace", "path": "/timeoutInMillis", "value": "1000"}],
        )
    assert error_code(exc) == ("NotFoundException", 404)


# ---------------------------------------------------------------------------------------------
# 3. put_method on an existing method
# ---------------------------------------------------------------------------------------------


@both_modes
def test_put_method_on_existing_method_conflicts(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, res = api_with_mock_get(ag)

    with pytest.raises(ClientError) as exc:
        ag.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="AWS_IAM")

    assert error_code(exc) == ("ConflictException", 409)
    assert "Method already exists for this resource" in str(exc.value)
    method = ag.get_method(restApiId=api_id, resourceId=res, httpMethod="GET")
    assert method["authorizationType"] == "NONE"
    assert method["methodIntegration"]["type"] == "MOCK"  # not dropped


# ---------------------------------------------------------------------------------------------
# 4. Lambda DeadLetterConfig / LoggingConfig / TracingConfig / KMSKeyArn
# ---------------------------------------------------------------------------------------------


def function_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    return buf.getvalue()


def lambda_role(iam) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        return iam.create_role(RoleName="fidelity-fn-role", AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:  # server mode: shared by the tests of this module
        return iam.get_role(RoleName="fidelity-fn-role")["Role"]["Arn"]


DLQ = "arn:aws:sqs:us-east-1:123456789012:crud-dlq"
TOPIC = "arn:aws:sns:us-east-1:123456789012:crud-alarms"
KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@both_modes
def test_lambda_returns_and_updates_dlq_logging_tracing_kms(client: ClientFactory) -> None:
    lam = client("lambda")
    role = lambda_role(client("iam"))
    created = lam.create_function(
        FunctionName="fidelity-fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": function_zip()},
        DeadLetterConfig={"TargetArn": DLQ},
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "/aws/lambda/fidelity-fn"},
        TracingConfig={"Mode": "Active"},
        KMSKeyArn=KEY,
    )
    json_logging = {
        "LogFormat": "JSON",
        "LogGroup": "/aws/lambda/fidelity-fn",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
    }
    for config in (
        created,
        lam.get_function_configuration(FunctionName="fidelity-fn"),
        lam.get_function(FunctionName="fidelity-fn")["Configuration"],
    ):
        assert config["DeadLetterConfig"] == {"TargetArn": DLQ}
        assert config["LoggingConfig"] == json_logging
        assert config["TracingConfig"] == {"Mode": "Active"}
        assert config["KMSKeyArn"] == KEY
    lam.publish_version(FunctionName="fidelity-fn")

    updated = lam.update_function_configuration(
        FunctionName="fidelity-fn",
        TracingConfig={"Mode": "PassThrough"},
        DeadLetterConfig={"TargetArn": TOPIC},
        KMSKeyArn="",
        LoggingConfig={"LogFormat": "Text"},
    )
    text_logging = {"LogFormat": "Text", "LogGroup": "/aws/lambda/fidelity-fn"}
    for config in (updated, lam.get_function_configuration(FunctionName="fidelity-fn")):
        assert config["TracingConfig"] == {"Mode": "PassThrough"}
        assert config["DeadLetterConfig"] == {"TargetArn": TOPIC}
        assert "KMSKeyArn" not in config
        assert config["LoggingConfig"] == text_logging
    # The published version keeps the configuration it was published with.
    version_1 = lam.get_function_configuration(FunctionName="fidelity-fn", Qualifier="1")
    assert version_1["DeadLetterConfig"] == {"TargetArn": DLQ}
    assert version_1["LoggingConfig"] == json_logging

    lam.update_function_configuration(
        FunctionName="fidelity-fn",
        DeadLetterConfig={"TargetArn": ""},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"},
    )
    config = lam.get_function_configuration(FunctionName="fidelity-fn")
    assert "DeadLetterConfig" not in config
    assert config["LoggingConfig"] == {**json_logging, "ApplicationLogLevel": "WARN"}


@pytest.mark.heavy
def test_lambda_default_logging_config_and_log_levels_need_json(client: ClientFactory) -> None:
    lam = client("lambda")
    role = lambda_role(client("iam"))
    created = lam.create_function(
        FunctionName="plain-fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": function_zip()},
    )
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/plain-fn"}
    assert "DeadLetterConfig" not in created

    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(
            FunctionName="plain-fn", LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}
        )
    assert error_code(exc)[0] == "InvalidParameterValueException"


# ---------------------------------------------------------------------------------------------
# 5. Lambda add_permission with an existing StatementId
# ---------------------------------------------------------------------------------------------


@both_modes
def test_add_permission_with_existing_statement_id_conflicts(client: ClientFactory) -> None:
    lam = client("lambda")
    role = lambda_role(client("iam"))
    lam.create_function(
        FunctionName="perm-fn",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": function_zip()},
    )
    permission = {
        "FunctionName": "perm-fn",
        "StatementId": "apigw-invoke",
        "Action": "lambda:InvokeFunction",
        "Principal": "apigateway.amazonaws.com",
        "SourceArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/*/*/items",
    }
    lam.add_permission(**permission)

    with pytest.raises(ClientError) as exc:
        lam.add_permission(**permission)

    assert error_code(exc) == ("ResourceConflictException", 409)
    assert exc.value.response["Error"]["Message"] == (
        "The statement id (apigw-invoke) provided already exists. Please provide a new statement id, "
        "or remove the existing statement."
    )
    lam.add_permission(**{**permission, "StatementId": "apigw-invoke-2"})
    statements = json.loads(lam.get_policy(FunctionName="perm-fn")["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["apigw-invoke", "apigw-invoke-2"]
    lam.remove_permission(FunctionName="perm-fn", StatementId="apigw-invoke")
    lam.add_permission(**permission)  # allowed again once removed


# ---------------------------------------------------------------------------------------------
# 6. CloudWatch Logs retention
# ---------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_log_retention_outside_allowed_list_is_rejected(client: ClientFactory) -> None:
    logs = client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/crud-fn")

    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName="/aws/lambda/crud-fn", retentionInDays=13)
    assert error_code(exc) == ("InvalidParameterException", 400)
    assert "retentionInDays" in exc.value.response["Error"]["Message"]

    for days in fidelity.LOG_RETENTION_DAYS:
        logs.put_retention_policy(logGroupName="/aws/lambda/crud-fn", retentionInDays=days)
    logs.put_retention_policy(logGroupName="/aws/lambda/crud-fn", retentionInDays=14)
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/crud-fn")["logGroups"][0]
    assert group["retentionInDays"] == 14


def test_log_group_created_with_invalid_retention_is_rejected(client: ClientFactory) -> None:
    # CreateLogGroup has no retentionInDays in the API; moto's backend takes RetentionInDays from
    # CloudFormation (AWS::Logs::LogGroup), which AWS validates against the same list.
    from moto.logs.exceptions import InvalidParameterException
    from moto.logs.models import logs_backends

    backend = logs_backends[DEFAULT_ACCOUNT_ID][REGION]
    with pytest.raises(InvalidParameterException):
        backend.create_log_group("/cfn/bad", {}, RetentionInDays=13)
    assert backend.create_log_group("/cfn/good", {}, RetentionInDays="30").retention_in_days == "30"


# ---------------------------------------------------------------------------------------------
# 7, 8: checked; moto already behaves like AWS (guards against a moto upgrade changing it)
# ---------------------------------------------------------------------------------------------


def test_usage_plan_quota_offset_round_trips(client: ClientFactory) -> None:
    ag = client("apigateway")
    quota = {"limit": 1000, "offset": 0, "period": "DAY"}
    plan = ag.create_usage_plan(name="crud-plan", quota=quota, throttle={"rateLimit": 10.0, "burstLimit": 20})
    assert ag.get_usage_plan(usagePlanId=plan["id"])["quota"] == quota


def test_empty_integration_response_template_reads_back_as_null_like_aws(client: ClientFactory) -> None:
    # AWS itself answers "application/json": null for an empty template (AWS CLI reference,
    # get-integration-response example), so moto's None is kept: compare '' and None as equal.
    ag = client("apigateway")
    api_id, res = api_with_mock_get(ag)
    got = ag.get_integration_response(restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200")
    assert got["responseTemplates"] == {"application/json": None}


def test_update_stage_method_settings_access_logs_tracing(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, _ = api_with_mock_get(ag)
    deployment = ag.create_deployment(restApiId=api_id)["id"]
    ag.create_stage(restApiId=api_id, stageName="dev", deploymentId=deployment, tracingEnabled=False)
    destination = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/crud-access"
    ag.update_stage(
        restApiId=api_id,
        stageName="dev",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "50"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "100"},
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
            {"op": "replace", "path": "/*/*/logging/dataTrace", "value": "true"},
            {"op": "replace", "path": "/*/*/metrics/enabled", "value": "true"},
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": destination},
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"},
        ],
    )
    stage = ag.get_stage(restApiId=api_id, stageName="dev")
    settings = stage["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (50.0, 100)
    assert (settings["loggingLevel"], settings["dataTraceEnabled"], settings["metricsEnabled"]) == (
        "INFO",
        True,
        True,
    )
    assert stage["accessLogSettings"] == {"destinationArn": destination, "format": "$context.requestId"}
    assert stage["tracingEnabled"] is True


# ---------------------------------------------------------------------------------------------
# 9. Further gaps
# ---------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_create_deployment_keeps_existing_stage_and_sets_tracing_on_new_one(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, _ = api_with_mock_get(ag)
    first = ag.create_deployment(restApiId=api_id)["id"]
    ag.create_stage(
        restApiId=api_id,
        stageName="dev",
        deploymentId=first,
        tracingEnabled=True,
        variables={"alias": "live"},
        tags={"env": "dev"},
    )
    ag.update_stage(
        restApiId=api_id,
        stageName="dev",
        patchOperations=[{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "50"}],
    )

    second = ag.create_deployment(restApiId=api_id, stageName="dev")["id"]

    stage = ag.get_stage(restApiId=api_id, stageName="dev")
    assert stage["deploymentId"] == second != first
    assert stage["tracingEnabled"] is True
    assert stage["variables"] == {"alias": "live"}
    assert stage["tags"] == {"env": "dev"}
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 50.0

    ag.create_deployment(
        restApiId=api_id, stageName="v2", stageDescription="second", tracingEnabled=True, variables={"a": "b"}
    )
    v2 = ag.get_stage(restApiId=api_id, stageName="v2")
    assert (v2["tracingEnabled"], v2["description"], v2["variables"]) == (True, "second", {"a": "b"})


def test_missing_integration_and_responses_are_not_found(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, res = rest_api(ag)
    ag.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    ids = {"restApiId": api_id, "resourceId": res, "httpMethod": "GET"}

    calls = {
        "get_integration": lambda: ag.get_integration(**ids),
        "get_integration_response": lambda: ag.get_integration_response(**ids, statusCode="200"),
        "get_method_response": lambda: ag.get_method_response(**ids, statusCode="200"),
        "delete_method_response": lambda: ag.delete_method_response(**ids, statusCode="200"),
    }
    for name, call in calls.items():
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == ("NotFoundException", 404), name


def test_update_method_response_integration_response_gateway_response(client: ClientFactory) -> None:
    ag = client("apigateway")
    api_id, res = api_with_mock_get(ag)
    ids = {"restApiId": api_id, "resourceId": res, "httpMethod": "GET", "statusCode": "200"}
    header = "method.response.header.Access-Control-Allow-Origin"

    method_response = ag.update_method_response(
        **ids, patchOperations=[{"op": "add", "path": f"/responseParameters/{header}", "value": "true"}]
    )
    assert method_response["responseParameters"] == {header: True}
    assert ag.get_method_response(**ids)["responseParameters"] == {header: True}

    ag.update_integration_response(
        **ids,
        patchOperations=[
            {"op": "add", "path": f"/responseParameters/{header}", "value": "'https://portal.example.com'"},
            {"op": "replace", "path": "/responseTemplates/application~1json", "value": '{"ok": true}'},
        ],
    )
    integration_response = ag.get_integration_response(**ids)
    assert integration_response["responseParameters"] == {header: "'https://portal.example.com'"}
    assert integration_response["responseTemplates"] == {"application/json": '{"ok": true}'}

    ag.put_gateway_response(restApiId=api_id, responseType="DEFAULT_4XX", statusCode="400")
    cors = "gatewayresponse.header.Access-Control-Allow-Origin"
    updated = ag.update_gateway_response(
        restApiId=api_id,
        responseType="DEFAULT_4XX",
        patchOperations=[
            {"op": "replace", "path": "/statusCode", "value": "401"},
            {"op": "add", "path": f"/responseParameters/{cors}", "value": "'*'"},
        ],
    )
    assert (updated["statusCode"], updated["responseParameters"]) == ("401", {cors: "'*'"})
    ag.update_gateway_response(
        restApiId=api_id,
        responseType="DEFAULT_5XX",
        patchOperations=[{"op": "add", "path": f"/responseParameters/{cors}", "value": "'*'"}],
    )
    got = ag.get_gateway_response(restApiId=api_id, responseType="DEFAULT_5XX")
    assert got["responseParameters"] == {cors: "'*'"}


def test_usage_plan_rate_limit_is_a_double(client: ClientFactory) -> None:
    ag = client("apigateway")
    plan = ag.create_usage_plan(name="crud-plan", throttle={"rateLimit": 10.0, "burstLimit": 20})
    updated = ag.update_usage_plan(
        usagePlanId=plan["id"],
        patchOperations=[
            {"op": "replace", "path": "/throttle/rateLimit", "value": "10.5"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": "30"},
        ],
    )
    assert updated["throttle"] == {"rateLimit": 10.5, "burstLimit": 30}
    assert ag.get_usage_plan(usagePlanId=plan["id"])["throttle"] == {"rateLimit": 10.5, "burstLimit": 30}


# -- CloudWatch and Logs (fidelity_cloudwatch.py) ---------------------------------------------------


def _put_latencies(cw, values: list[float], dims: list[dict[str, str]] | None = None) -> None:
    cw.put_metric_data(
        Namespace="App",
        MetricData=[
            {"MetricName": "Latency", "Values": values, "Dimensions": dims or [{"Name": "Fn", "Value": "f"}]}
        ],
    )


@both_modes
def test_percentiles_in_metric_statistics_and_metric_data(client: ClientFactory) -> None:
    """GetMetricStatistics ExtendedStatistics and GetMetricData Stat "p90" (percentiles, CloudWatch
    statistics definitions: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html)."""
    import datetime as dt

    cw = client("cloudwatch")
    _put_latencies(cw, [float(v) for v in range(1, 101)])
    now = dt.datetime.now(dt.UTC)
    window = {"StartTime": now - dt.timedelta(minutes=5), "EndTime": now + dt.timedelta(minutes=5)}
    dims = [{"Name": "Fn", "Value": "f"}]
    points = cw.get_metric_statistics(
        Namespace="App",
        MetricName="Latency",
        Dimensions=dims,
        Period=600,
        ExtendedStatistics=["p90", "p99.5"],
        **window,
    )["Datapoints"]
    assert [p["ExtendedStatistics"] for p in points] == [{"p90": 90.0, "p99.5": 100.0}]
    query = {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": dims}, "Period": 600}
    results = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": "p", "MetricStat": {**query, "Stat": "p90"}},
            {"Id": "s", "MetricStat": {**query, "Stat": "Sum"}},
            {"Id": "half", "Expression": "s / 2"},
        ],
        **window,
    )["MetricDataResults"]
    assert {r["Id"]: r["Values"] for r in results} == {"p": [90.0], "s": [5050.0], "half": [2525.0]}


@both_modes
def test_metric_statistics_match_the_exact_dimension_set(client: ClientFactory) -> None:
    """CloudWatch concepts, dimension combinations: "CloudWatch treats each unique combination of
    dimensions as a separate metric" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#dimension-combinations)."""
    import datetime as dt

    cw = client("cloudwatch")
    _put_latencies(cw, [1.0], [{"Name": "Fn", "Value": "f"}])
    _put_latencies(cw, [2.0, 3.0], [{"Name": "Fn", "Value": "f"}, {"Name": "Stage", "Value": "dev"}])
    now = dt.datetime.now(dt.UTC)
    window = {
        "StartTime": now - dt.timedelta(minutes=5),
        "EndTime": now + dt.timedelta(minutes=5),
        "Period": 600,
    }

    def total(dims: list[dict[str, str]]) -> list[float]:
        return [
            p["Sum"]
            for p in cw.get_metric_statistics(
                Namespace="App", MetricName="Latency", Dimensions=dims, Statistics=["Sum"], **window
            )["Datapoints"]
        ]

    assert total([{"Name": "Fn", "Value": "f"}]) == [1.0]
    assert total([{"Name": "Stage", "Value": "dev"}, {"Name": "Fn", "Value": "f"}]) == [5.0]
    assert total([]) == []


@both_modes
def test_alarm_starts_insufficient_data_and_keeps_its_state_on_update(client: ClientFactory) -> None:
    """PutMetricAlarm: "When this operation creates an alarm, the alarm state is immediately set to
    INSUFFICIENT_DATA ... When you update an existing alarm, its state is left unchanged"
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)."""
    cw = client("cloudwatch")
    args = {
        "AlarmName": "a",
        "Namespace": "App",
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    cw.put_metric_alarm(**args)
    described = cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
    assert (described["StateValue"], described["StateReason"]) == (
        "INSUFFICIENT_DATA",
        "Unchecked: Initial alarm creation",
    )
    cw.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="test")
    cw.put_metric_alarm(**{**args, "Threshold": 2.0})
    described = cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]
    assert (described["StateValue"], described["Threshold"]) == ("ALARM", 2.0)
    history = cw.describe_alarm_history(AlarmName="a")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        'Alarm "a" updated',
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
        'Alarm "a" created',
    ]


@both_modes
@pytest.mark.parametrize(
    ("period", "evaluation_periods", "accepted"),
    [(10, 1, True), (20, 1, True), (30, 1, True), (60, 1, True), (300, 288, True), (45, 1, False),
     (90, 1, False), (5, 1, False), (300, 289, False), (3600, 168, True), (3600, 169, False)],
)  # fmt: skip
def test_alarm_periods_are_those_aws_allows(
    client: ClientFactory, period: int, evaluation_periods: int, accepted: bool
) -> None:
    """PutMetricAlarm, Period: "Valid values are 10, 20, 30, and any multiple of 60"; Period x
    EvaluationPeriods at most 86,400 s (604,800 s for periods of an hour or more)
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)."""
    cw = client("cloudwatch")

    def put() -> None:
        cw.put_metric_alarm(
            AlarmName="p", Namespace="App", MetricName="Errors", Statistic="Sum", Period=period,
            EvaluationPeriods=evaluation_periods, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip

    if accepted:
        put()
    else:
        with pytest.raises(ClientError) as exc:
            put()
        assert error_code(exc) == ("ValidationError", 400)


@both_modes
def test_embedded_metric_format_log_events_become_metrics(client: ClientFactory) -> None:
    """CloudWatch Logs extracts EMF metrics from log events (embedded metric format specification:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)."""
    import time

    logs, cw = client("logs"), client("cloudwatch")
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    stamp = int(time.time() * 1000)
    emf = {
        "_aws": {
            "Timestamp": stamp,
            "CloudWatchMetrics": [
                {"Namespace": "Orders", "Dimensions": [["Shop"]], "Metrics": [{"Name": "Placed"}]}
            ],
        },
        "Shop": "eu",
        "Placed": 2,
    }
    logs.put_log_events(
        logGroupName="g",
        logStreamName="s",
        logEvents=[
            {"timestamp": stamp, "message": json.dumps(emf)},
            {"timestamp": stamp, "message": "plain"},
        ],
    )
    listed = cw.list_metrics(Namespace="Orders")["Metrics"]
    found = [(m["MetricName"], m["Dimensions"]) for m in listed]
    assert found == [("Placed", [{"Name": "Shop", "Value": "eu"}])]


# ---------------------------------------------------------------------------------------------
# Integration timeoutInMillis: 50 to 29,000
# ---------------------------------------------------------------------------------------------


@pytest.mark.heavy
@both_modes
def test_integration_timeout_outside_50_to_29000_ms_is_refused(client: ClientFactory) -> None:
    """Issue 22 case: timeoutInMillis outside 50..29,000 was accepted. API_PutIntegration.html
    (https://docs.aws.amazon.com/apigateway/latest/api/API_PutIntegration.html): "between 50 and 29,000
    milliseconds"; API Gateway answers 400 BadRequestException "Timeout should be between 50 ms and
    29000 ms", on PutIntegration and on UpdateIntegration, and keeps the integration as it was."""
    ag = client("apigateway")
    api_id, res = rest_api(ag, "timeouts")
    ag.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    where = {"restApiId": api_id, "resourceId": res, "httpMethod": "GET"}
    proxy = {"type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": LAMBDA_URI}
    for refused in (49, 29001, 0, -1, 60000):
        with pytest.raises(ClientError) as exc:
            ag.put_integration(**where, **proxy, timeoutInMillis=refused)
        assert error_code(exc) == ("BadRequestException", 400), refused
        assert exc.value.response["Error"]["Message"] == "Timeout should be between 50 ms and 29000 ms"
    for accepted in (50, 29000):
        assert ag.put_integration(**where, **proxy, timeoutInMillis=accepted)["timeoutInMillis"] == accepted

    with pytest.raises(ClientError) as exc:
        ag.update_integration(
            **where, patchOperations=[{"op": "replace", "path": "/timeoutInMillis", "value": "30000"}]
        )
    assert error_code(exc) == ("BadRequestException", 400)
    assert ag.get_integration(**where)["timeoutInMillis"] == 29000
    ag.update_integration(
        **where, patchOperations=[{"op": "replace", "path": "/timeoutInMillis", "value": "1000"}]
    )
    assert ag.get_integration(**where)["timeoutInMillis"] == 1000
