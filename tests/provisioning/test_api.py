"""API side: account CloudWatch role, REST API, usage plan and key, Lambda permission.

Each resource is converged, read back with boto3 and checked value by value; then a second
converge must be a no-op with zero mutating calls; live tampering must show as drift with the
wanted and found values and be repaired with the fewest calls (API Gateway's control-plane
quotas are tiny: no redeploy, usage-plan update or account update unless something changed).
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from provisioning.aws import AwsClients, AwsTarget
from provisioning.names import APIGW_CLOUDWATCH_ROLE
from provisioning.reconcile import Action, assess, converge, remove
from provisioning.resources.alias import LiveAlias
from provisioning.resources.apigw_account import LOG_ACTIONS, ApiGatewayAccount
from provisioning.resources.base import MISSING, Context, FieldDiff
from provisioning.resources.permission import InvokePermission
from provisioning.resources.rest_api import RestApi
from provisioning.resources.usage_plan import UsagePlan
from provisioning.spec import build_spec

REGION = "us-east-1"
ACCOUNT = "123456789012"
ALLOW_HEADERS = "'Content-Type,X-Amz-Date,Authorization,X-Api-Key'"


# One boto3 session for the module: botocore then parses each service model once, not once per test
# (that parsing was most of this file's run time).
_SESSION = boto3.Session(region_name=REGION)


@pytest.fixture
def aws(mocked_aws: None) -> AwsClients:
    return AwsClients(AwsTarget(region=REGION), session=_SESSION)


def _c(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def _throttle(ctx: Context) -> tuple[float, int]:
    """The stage profile's rate and burst, as API Gateway reports them (the rate as a float)."""
    settings = ctx.spec.settings
    return float(settings.throttle_rate), settings.throttle_burst


def _with(ctx: Context, **kwargs: Any) -> Context:
    """The same environment with other spec values, sharing the clients, recorder and attrs."""
    values: dict[str, Any] = {
        "suffix": ctx.spec.suffix,
        "stage": ctx.spec.stage,
        "owner": ctx.spec.owner,
        "cost_centre": ctx.spec.cost_centre,
    }
    values.update(kwargs)
    return Context(spec=build_spec(**values), aws=ctx.aws, attrs=ctx.attrs, sleep=ctx.sleep)


def _log_group(ctx: Context) -> None:
    _c("logs").create_log_group(logGroupName=ctx.names.access_log_group)


def _function(ctx: Context) -> None:
    """A stand-in for the compute helper's function: any zip, a role that KMS never touches."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = _c("iam").create_role(RoleName="test-fn-role", AssumeRolePolicyDocument=json.dumps(trust))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    _c("lambda").create_function(
        FunctionName=ctx.names.function,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": buf.getvalue()},
    )


def _api(ctx: Context) -> str:
    """Account role, access log group and REST API: what the usage plan and permission need."""
    converge(ApiGatewayAccount(), ctx)
    _log_group(ctx)
    converge(RestApi(), ctx)
    return str(ctx.attrs["rest_api"]["id"])


def _mutating_ops(counts: Any) -> dict[str, int]:
    return {
        op: n for op, n in counts.by_operation.items() if not op.split(".", 1)[1].startswith(("Get", "List"))
    }


def _resource_ids(api_id: str) -> dict[str, str]:
    return {r["path"]: r["id"] for r in _c("apigateway").get_resources(restApiId=api_id)["items"]}


# --- API Gateway account (R-IAM-3) ---------------------------------------------------------


@pytest.mark.heavy
def test_account_role_trusts_only_apigateway_and_is_the_account_setting(ctx: Context) -> None:
    # R-IAM-3
    outcome = converge(ApiGatewayAccount(), ctx)
    assert outcome.action is Action.CREATE
    iam = _c("iam")
    role = iam.get_role(RoleName=APIGW_CLOUDWATCH_ROLE)["Role"]
    statements = role["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in statements] == [{"Service": "apigateway.amazonaws.com"}]
    assert iam.list_attached_role_policies(RoleName=APIGW_CLOUDWATCH_ROLE)["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=APIGW_CLOUDWATCH_ROLE)["PolicyNames"]
    assert len(names) == 1
    policy = iam.get_role_policy(RoleName=APIGW_CLOUDWATCH_ROLE, PolicyName=names[0])["PolicyDocument"]
    [statement] = policy["Statement"]
    assert statement["Sid"] and statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == sorted(LOG_ACTIONS)
    assert "logs:PutLogEvents" in statement["Action"] and "logs:FilterLogEvents" in statement["Action"]
    assert statement["Resource"] == f"arn:aws:logs:*:{ACCOUNT}:log-group:*"
    assert _c("apigateway").get_account()["cloudwatchRoleArn"] == role["Arn"]
    assert outcome.attrs == {"role_arn": role["Arn"]}

    before = ctx.aws.recorder.snapshot()
    assert converge(ApiGatewayAccount(), ctx).action is Action.NOOP
    calls = ctx.aws.recorder.since(before)
    assert calls.mutating == 0 and "apigateway.UpdateAccount" not in calls.by_operation


def test_account_setting_changed_elsewhere_is_drift_repaired_by_one_update_account(ctx: Context) -> None:
    # R-IAM-3, R-OPS-2: UpdateAccount (1 per 20 s) only when get_account shows another ARN
    converge(ApiGatewayAccount(), ctx)
    apigw = _c("apigateway")
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": other}])
    outcome, _, _ = assess(ApiGatewayAccount(), ctx)
    mine = f"arn:aws:iam::{ACCOUNT}:role/{APIGW_CLOUDWATCH_ROLE}"
    assert outcome.diffs == [FieldDiff("apigw_account", "account.cloudwatchRoleArn", mine, other)]
    before = ctx.aws.recorder.snapshot()
    assert converge(ApiGatewayAccount(), ctx).action is Action.UPDATE
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.UpdateAccount": 1}
    assert apigw.get_account()["cloudwatchRoleArn"] == mine


def test_account_update_retries_while_the_new_role_propagates(mocked_aws: None, spec: Any) -> None:
    # IAM eventual consistency: UpdateAccount refuses a role created a moment ago
    refusals = {"left": 2}

    def refuse(**_: Any) -> Any:
        if refusals["left"] == 0:
            return None
        refusals["left"] -= 1
        body = {
            "Error": {
                "Code": "BadRequestException",
                "Message": ("The role ARN does not have required permissions set to API Gateway"),
            }
        }
        return AWSResponse("https://apigateway", 400, {}, None), body

    aws = AwsClients(
        AwsTarget(region=REGION),
        hooks=(("before-call.api-gateway.UpdateAccount", refuse, True),),
        session=_SESSION,
    )
    ctx = Context(spec=spec, aws=aws, sleep=lambda _s: None)
    converge(ApiGatewayAccount(), ctx)
    assert refusals["left"] == 0
    assert aws.recorder.snapshot().by_operation["apigateway.UpdateAccount"] == 3
    assert _c("apigateway").get_account()["cloudwatchRoleArn"].endswith(f":role/{APIGW_CLOUDWATCH_ROLE}")


def test_account_role_is_shared_and_survives_remove(ctx: Context) -> None:
    # R-OPS-4: teardown deletes the environment's resources and nothing else
    converge(ApiGatewayAccount(), ctx)
    assert ApiGatewayAccount.shared is True
    remove(ApiGatewayAccount(), ctx)
    assert _c("iam").get_role(RoleName=APIGW_CLOUDWATCH_ROLE)["Role"]["RoleName"] == APIGW_CLOUDWATCH_ROLE


# --- REST API (R-API-1, R-API-3, R-API-4) --------------------------------------------------


@pytest.mark.heavy
def test_rest_api_values_after_create(ctx: Context) -> None:
    # R-API-1, R-API-2, R-API-3, R-API-4, R-ENV-3, R-ENV-4, R-REL-2 (the integration invokes the alias)
    api_id = _api(ctx)
    apigw = _c("apigateway")
    [api] = [a for a in apigw.get_rest_apis()["items"] if a["name"] == "envport-dev1"]
    assert api["id"] == api_id
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert api["tags"] == ctx.tag_dict and api["tags"]["Owner"] == "team-a"

    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]}
    assert set(resources) == {"/", "/items", "/items/{id}"}
    uri = (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:envport-dev1-api:live/invocations"
    )
    wanted_verbs = {"/items": {"GET", "POST"}, "/items/{id}": {"GET", "PUT", "DELETE"}}
    for path, verbs in wanted_verbs.items():
        rid = resources[path]["id"]
        assert set(resources[path]["resourceMethods"]) == verbs | {"OPTIONS"}
        for verb in verbs:
            method = apigw.get_method(restApiId=api_id, resourceId=rid, httpMethod=verb)
            assert method["apiKeyRequired"] is True, (verb, path)  # R-API-2
            assert method["authorizationType"] == "NONE"
            if path == "/items/{id}":
                assert method["requestParameters"] == {"method.request.path.id": True}
            integration = apigw.get_integration(restApiId=api_id, resourceId=rid, httpMethod=verb)
            assert (integration["type"], integration["httpMethod"], integration["uri"]) == (
                "AWS_PROXY",
                "POST",
                uri,
            )
        options = apigw.get_method(restApiId=api_id, resourceId=rid, httpMethod="OPTIONS")
        assert options["apiKeyRequired"] is False  # browsers send no key on a preflight
        mock = apigw.get_integration(restApiId=api_id, resourceId=rid, httpMethod="OPTIONS")
        assert mock["type"] == "MOCK"
        assert mock["requestTemplates"] == {"application/json": '{"statusCode": 200}'}
        declared = apigw.get_method_response(
            restApiId=api_id, resourceId=rid, httpMethod="OPTIONS", statusCode="200"
        )
        assert set(declared["responseParameters"]) == {
            "method.response.header.Access-Control-Allow-Headers",
            "method.response.header.Access-Control-Allow-Methods",
            "method.response.header.Access-Control-Allow-Origin",
        }
        answer = apigw.get_integration_response(
            restApiId=api_id, resourceId=rid, httpMethod="OPTIONS", statusCode="200"
        )["responseParameters"]
        assert answer["method.response.header.Access-Control-Allow-Headers"] == ALLOW_HEADERS
        assert answer["method.response.header.Access-Control-Allow-Methods"] == (
            "'" + ",".join(sorted(verbs | {"OPTIONS"})) + "'"
        )
        assert answer["method.response.header.Access-Control-Allow-Origin"] == "'*'"

    for rtype in ("DEFAULT_4XX", "DEFAULT_5XX"):  # R-API-3
        params = apigw.get_gateway_response(restApiId=api_id, responseType=rtype)["responseParameters"]
        assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
        assert params["gatewayresponse.header.Access-Control-Allow-Headers"] == ALLOW_HEADERS
        assert (
            params["gatewayresponse.header.Access-Control-Allow-Methods"] == "'DELETE,GET,OPTIONS,POST,PUT'"
        )

    stage = apigw.get_stage(restApiId=api_id, stageName="dev")  # R-API-4
    assert stage["tracingEnabled"] is True
    destination = stage["accessLogSettings"]["destinationArn"]
    assert destination == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/apigateway/envport-dev1-access"
    fmt = json.loads(stage["accessLogSettings"]["format"])
    for name in (
        "requestId",
        "ip",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "status",
        "protocol",
        "responseLength",
        "integrationLatency",
        "apiKeyId",
    ):
        assert fmt[name].startswith("$context."), name
    settings = stage["methodSettings"]["*/*"]
    assert settings["loggingLevel"] == "INFO"
    assert settings["dataTraceEnabled"] is False
    assert settings["metricsEnabled"] is True
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == _throttle(ctx)
    assert stage["tags"] == ctx.tag_dict
    deployments = apigw.get_deployments(restApiId=api_id)["items"]
    assert [d["id"] for d in deployments] == [stage["deploymentId"]]

    attrs = ctx.attrs["rest_api"]
    assert attrs["execution_arn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}"
    assert RestApi().outputs(ctx, attrs) == {
        "api_id": api_id,
        "api_endpoint": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/dev",
        "api_stage": "dev",
    }


@pytest.mark.heavy
def test_rest_api_create_and_noop_call_counts(ctx: Context) -> None:
    # R-OPS-1: a second run reads 4 times and changes nothing; in particular it does not redeploy
    converge(ApiGatewayAccount(), ctx)
    _log_group(ctx)
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), ctx)
    created = ctx.aws.recorder.since(before).by_operation
    assert created["apigateway.CreateDeployment"] == 1
    assert created["apigateway.PutMethod"] == 7 and created["apigateway.CreateResource"] == 2
    assert created["apigateway.UpdateStage"] == 1 and created["apigateway.CreateStage"] == 1

    before = ctx.aws.recorder.snapshot()
    assert converge(RestApi(), ctx).action is Action.NOOP
    calls = ctx.aws.recorder.since(before)
    assert calls.mutating == 0
    assert calls.by_operation == {
        "apigateway.GetRestApis": 1,
        "apigateway.GetResources": 1,
        "apigateway.GetGatewayResponses": 1,
        "apigateway.GetAuthorizers": 1,  # R-AUTH-1: a mode switch must find the old authorizer
        "apigateway.GetStage": 1,
    }


def test_method_without_api_key_is_drift_repaired_by_one_patch_and_one_deployment(ctx: Context) -> None:
    # R-API-2, R-OPS-2
    api_id = _api(ctx)
    apigw = _c("apigateway")
    rid = _resource_ids(api_id)["/items"]
    apigw.update_method(
        restApiId=api_id,
        resourceId=rid,
        httpMethod="GET",
        patchOperations=[{"op": "replace", "path": "/apiKeyRequired", "value": "false"}],
    )
    outcome, _, _ = assess(RestApi(), ctx)
    assert outcome.action is Action.UPDATE
    assert outcome.diffs == [FieldDiff("rest_api", "method:GET /items.apiKeyRequired", True, False)]

    old_deployment = apigw.get_stage(restApiId=api_id, stageName="dev")["deploymentId"]
    before = ctx.aws.recorder.snapshot()
    assert converge(RestApi(), ctx).action is Action.UPDATE
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {
        "apigateway.UpdateMethod": 1,
        "apigateway.CreateDeployment": 1,
        "apigateway.UpdateStage": 1,
    }
    assert apigw.get_method(restApiId=api_id, resourceId=rid, httpMethod="GET")["apiKeyRequired"] is True
    stage = apigw.get_stage(restApiId=api_id, stageName="dev")
    assert stage["deploymentId"] != old_deployment  # the stage serves the repaired definition
    rate, _ = _throttle(ctx)
    assert stage["tracingEnabled"] is True and stage["methodSettings"]["*/*"]["throttlingRateLimit"] == rate
    assert converge(RestApi(), ctx).action is Action.NOOP


@pytest.mark.heavy
def test_stage_throttling_tamper_is_repaired_by_update_stage_without_deployment(ctx: Context) -> None:
    # R-API-2, R-API-4: stage settings need no new deployment
    api_id = _api(ctx)
    apigw = _c("apigateway")
    apigw.update_stage(
        restApiId=api_id,
        stageName="dev",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "999"},
            {"op": "replace", "path": "/tracingEnabled", "value": "false"},
        ],
    )
    outcome, _, _ = assess(RestApi(), ctx)
    assert {d.field: (d.wanted, d.found) for d in outcome.diffs} == {
        "stage.methodSettings.throttling.rateLimit": (_throttle(ctx)[0], 999.0),
        "stage.tracingEnabled": (True, False),
    }
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.UpdateStage": 1}
    stage = apigw.get_stage(restApiId=api_id, stageName="dev")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == _throttle(ctx)[0]
    assert stage["tracingEnabled"] is True


def test_stage_tag_drift_is_retagged_without_deployment(ctx: Context) -> None:
    # R-ENV-3
    api_id = _api(ctx)
    apigw = _c("apigateway")
    arn = f"arn:aws:apigateway:us-east-1::/restapis/{api_id}/stages/dev"
    apigw.untag_resource(resourceArn=arn, tagKeys=["Owner"])
    outcome, _, _ = assess(RestApi(), ctx)
    assert [d.field for d in outcome.diffs] == ["stage.tags"]
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.TagResource": 1}
    assert apigw.get_stage(restApiId=api_id, stageName="dev")["tags"] == ctx.tag_dict


def test_preflight_and_gateway_response_tamper_is_patched_and_deployed_once(ctx: Context) -> None:
    # R-API-3, R-OPS-2
    api_id = _api(ctx)
    apigw = _c("apigateway")
    rid = _resource_ids(api_id)["/items/{id}"]
    header = "method.response.header.Access-Control-Allow-Methods"
    apigw.update_integration_response(
        restApiId=api_id,
        resourceId=rid,
        httpMethod="OPTIONS",
        statusCode="200",
        patchOperations=[{"op": "replace", "path": f"/responseParameters/{header}", "value": "'GET'"}],
    )
    apigw.put_gateway_response(
        restApiId=api_id,
        responseType="DEFAULT_4XX",
        responseParameters={"gatewayresponse.header.Access-Control-Allow-Origin": "'https://evil.example'"},
    )
    outcome, _, _ = assess(RestApi(), ctx)
    assert {d.field: (d.wanted, d.found) for d in outcome.diffs} == {
        "method:OPTIONS /items/{id}.response.Access-Control-Allow-Methods": (
            "'DELETE,GET,OPTIONS,PUT'",
            "'GET'",
        ),
        "gateway_response:DEFAULT_4XX.Access-Control-Allow-Origin": ("'*'", "'https://evil.example'"),
        "gateway_response:DEFAULT_4XX.Access-Control-Allow-Headers": (ALLOW_HEADERS, MISSING),
        "gateway_response:DEFAULT_4XX.Access-Control-Allow-Methods": (
            "'DELETE,GET,OPTIONS,POST,PUT'",
            MISSING,
        ),
    }
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {
        "apigateway.UpdateIntegrationResponse": 1,
        "apigateway.PutGatewayResponse": 1,
        "apigateway.CreateDeployment": 1,
        "apigateway.UpdateStage": 1,
    }
    answer = apigw.get_integration_response(
        restApiId=api_id, resourceId=rid, httpMethod="OPTIONS", statusCode="200"
    )["responseParameters"]
    assert answer[header] == "'DELETE,GET,OPTIONS,PUT'"
    params = apigw.get_gateway_response(restApiId=api_id, responseType="DEFAULT_4XX")["responseParameters"]
    assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    assert converge(RestApi(), ctx).action is Action.NOOP


def test_changed_throttling_updates_the_stage_only(ctx: Context) -> None:
    # R-ENV-2, R-API-2: an override changes the stage settings, nothing else
    api_id = _api(ctx)
    changed = _with(ctx, overrides={"throttle_rate": 200, "throttle_burst": 400})
    outcome, _, _ = assess(RestApi(), changed)
    assert sorted(d.field for d in outcome.diffs) == [
        "stage.methodSettings.throttling.burstLimit",
        "stage.methodSettings.throttling.rateLimit",
    ]
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), changed)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.UpdateStage": 1}
    settings = _c("apigateway").get_stage(restApiId=api_id, stageName="dev")["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (200.0, 400)


@pytest.mark.heavy
def test_changed_cors_origin_patches_preflights_and_gateway_responses_and_deploys_once(ctx: Context) -> None:
    # R-API-3: the one origin a MOCK preflight can return
    api_id = _api(ctx)
    changed = _with(ctx, cors_origins=["https://app.example.com"])
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), changed)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {
        "apigateway.UpdateIntegrationResponse": 2,
        "apigateway.PutGatewayResponse": 4,  # DEFAULT_4XX/5XX, UNAUTHORIZED, ACCESS_DENIED (R-AUTH-2)
        "apigateway.CreateDeployment": 1,
        "apigateway.UpdateStage": 1,
    }
    apigw = _c("apigateway")
    for path in ("/items", "/items/{id}"):
        answer = apigw.get_integration_response(
            restApiId=api_id, resourceId=_resource_ids(api_id)[path], httpMethod="OPTIONS", statusCode="200"
        )
        assert answer["responseParameters"]["method.response.header.Access-Control-Allow-Origin"] == (
            "'https://app.example.com'"
        )
    params = apigw.get_gateway_response(restApiId=api_id, responseType="DEFAULT_5XX")["responseParameters"]
    assert params["gatewayresponse.header.Access-Control-Allow-Origin"] == "'https://app.example.com'"
    assert converge(RestApi(), changed).action is Action.NOOP


@pytest.mark.heavy
def test_missing_and_extra_methods_are_drift_fixed_with_one_deployment(ctx: Context) -> None:
    # R-API-1, R-OPS-2: a deleted route comes back; a route nobody asked for goes
    api_id = _api(ctx)
    apigw = _c("apigateway")
    ids = _resource_ids(api_id)
    apigw.delete_method(restApiId=api_id, resourceId=ids["/items/{id}"], httpMethod="PUT")
    apigw.put_method(restApiId=api_id, resourceId=ids["/items"], httpMethod="PATCH", authorizationType="NONE")
    outcome, _, _ = assess(RestApi(), ctx)
    fields = {d.field: (d.wanted, d.found) for d in outcome.diffs}
    assert fields["method:PATCH /items"] == (MISSING, "(present)")
    assert fields["method:PUT /items/{id}"] == ("(present)", MISSING)
    assert fields["method:PUT /items/{id}.apiKeyRequired"] == (True, MISSING)
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {
        "apigateway.DeleteMethod": 1,
        "apigateway.PutMethod": 1,
        "apigateway.PutIntegration": 1,
        "apigateway.CreateDeployment": 1,
        "apigateway.UpdateStage": 1,
    }
    methods = apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]
    by_path = {r["path"]: set(r.get("resourceMethods") or {}) for r in methods}
    assert by_path["/items"] == {"GET", "POST", "OPTIONS"}
    assert by_path["/items/{id}"] == {"GET", "PUT", "DELETE", "OPTIONS"}
    assert apigw.get_method(restApiId=api_id, resourceId=ids["/items/{id}"], httpMethod="PUT")[
        "apiKeyRequired"
    ]
    assert converge(RestApi(), ctx).action is Action.NOOP


@pytest.mark.heavy
def test_definition_changed_but_never_deployed_is_deployed_by_the_next_run(ctx: Context) -> None:
    # R-OPS-1: a run that died between changing a method and CreateDeployment
    api_id = _api(ctx)
    apigw = _c("apigateway")
    apigw.update_stage(
        restApiId=api_id,
        stageName="dev",
        patchOperations=[{"op": "replace", "path": "/description", "value": "deployed by hand"}],
    )
    outcome, _, _ = assess(RestApi(), ctx)
    assert [d.field for d in outcome.diffs] == ["stage.deployedDefinition"]
    before = ctx.aws.recorder.snapshot()
    converge(RestApi(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {
        "apigateway.CreateDeployment": 1,
        "apigateway.UpdateStage": 1,
    }
    assert converge(RestApi(), ctx).action is Action.NOOP


def test_untagged_namesake_is_not_adopted(ctx: Context) -> None:
    # REST API names are not unique: someone else's API of the same name is left alone
    apigw = _c("apigateway")
    theirs = apigw.create_rest_api(name="envport-dev1")["id"]
    converge(ApiGatewayAccount(), ctx)
    _log_group(ctx)
    assert converge(RestApi(), ctx).action is Action.CREATE
    ours = ctx.attrs["rest_api"]["id"]
    assert ours != theirs
    same_name = {a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "envport-dev1"}
    assert same_name == {theirs, ours}
    assert apigw.get_resources(restApiId=theirs)["items"] == [{"id": _resource_ids(theirs)["/"], "path": "/"}]


def test_tagged_api_left_by_a_crashed_run_is_adopted_not_duplicated(ctx: Context) -> None:
    # R-OPS-1: a run that died right after CreateRestApi
    apigw = _c("apigateway")
    orphan = apigw.create_rest_api(
        name="envport-dev1", endpointConfiguration={"types": ["REGIONAL"]}, tags=ctx.tag_dict
    )["id"]
    converge(ApiGatewayAccount(), ctx)
    _log_group(ctx)
    before = ctx.aws.recorder.snapshot()
    assert converge(RestApi(), ctx).action is Action.UPDATE
    assert "apigateway.CreateRestApi" not in ctx.aws.recorder.since(before).by_operation
    assert ctx.attrs["rest_api"]["id"] == orphan
    assert [a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "envport-dev1"] == [orphan]
    assert set(_resource_ids(orphan)) == {"/", "/items", "/items/{id}"}
    assert converge(RestApi(), ctx).action is Action.NOOP


def test_a_second_tagged_copy_is_reported_and_removed(ctx: Context) -> None:
    # R-OPS-1, R-OPS-2: two racing runs made two; the oldest is kept
    api_id = _api(ctx)
    apigw = _c("apigateway")
    extra = apigw.create_rest_api(name="envport-dev1", tags=ctx.tag_dict)["id"]
    outcome, _, _ = assess(RestApi(), ctx)
    kept = outcome.attrs["id"]
    dropped = sorted({api_id, extra} - {kept})
    assert [(d.field, d.wanted, d.found) for d in outcome.diffs if d.field == "duplicates"] == [
        ("duplicates", [], dropped)
    ]
    converge(RestApi(), ctx)
    assert [a["id"] for a in apigw.get_rest_apis()["items"]] == [kept]


@pytest.mark.heavy
def test_rest_api_remove_leaves_nothing_and_is_repeatable(ctx: Context) -> None:
    # R-OPS-4
    _api(ctx)
    before = ctx.aws.recorder.snapshot()
    assert remove(RestApi(), ctx).action is Action.DELETE
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.DeleteRestApi": 1}
    assert _c("apigateway").get_rest_apis()["items"] == []
    assert remove(RestApi(), ctx).action is Action.NOOP


# --- usage plan and API key (R-API-2) ------------------------------------------------------


def _plan(ctx: Context) -> tuple[str, dict[str, Any]]:
    api_id = _api(ctx)
    outcome = converge(UsagePlan(), ctx)
    return api_id, outcome.attrs


@pytest.mark.heavy
def test_usage_plan_values_after_create(ctx: Context) -> None:
    # R-API-2, R-ENV-3, R-ENV-4
    api_id, attrs = _plan(ctx)
    apigw = _c("apigateway")
    [key] = [k for k in apigw.get_api_keys(includeValues=True)["items"] if k["name"] == "envport-dev1-key"]
    assert key["enabled"] is True and key["tags"] == ctx.tag_dict
    [plan] = [p for p in apigw.get_usage_plans()["items"] if p["name"] == "envport-dev1-plan"]
    rate, burst = _throttle(ctx)
    assert plan["throttle"] == {"rateLimit": rate, "burstLimit": burst}
    assert plan["quota"]["limit"] == 100_000 and plan["quota"]["period"] == "DAY"
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "dev"}]
    assert plan["tags"] == ctx.tag_dict
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    assert attrs == {"usage_plan_id": plan["id"], "api_key_id": key["id"]}
    outputs = UsagePlan().outputs(ctx, attrs)
    assert outputs == {"api_key_id": key["id"], "usage_plan_id": plan["id"]}
    assert key["value"] not in json.dumps([attrs, outputs])  # R-ENV-4: never the key's value

    before = ctx.aws.recorder.snapshot()
    assert converge(UsagePlan(), ctx).action is Action.NOOP
    calls = ctx.aws.recorder.since(before)
    assert calls.mutating == 0 and "apigateway.UpdateUsagePlan" not in calls.by_operation
    assert calls.by_operation == {
        "apigateway.GetApiKeys": 1,
        "apigateway.GetUsagePlans": 1,
        "apigateway.GetUsagePlanKeys": 1,
    }


def test_detached_key_is_drift_and_is_attached_again(ctx: Context) -> None:
    # R-API-2, R-OPS-2
    _, attrs = _plan(ctx)
    apigw = _c("apigateway")
    apigw.delete_usage_plan_key(usagePlanId=attrs["usage_plan_id"], keyId=attrs["api_key_id"])
    outcome, _, _ = assess(UsagePlan(), ctx)
    assert outcome.diffs == [FieldDiff("usage_plan", "usage_plan.keys", [attrs["api_key_id"]], [])]
    before = ctx.aws.recorder.snapshot()
    converge(UsagePlan(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.CreateUsagePlanKey": 1}
    keys = apigw.get_usage_plan_keys(usagePlanId=attrs["usage_plan_id"])["items"]
    assert [k["id"] for k in keys] == [attrs["api_key_id"]]


@pytest.mark.heavy
def test_usage_plan_rate_tamper_is_repaired_by_one_update(ctx: Context) -> None:
    # R-API-2: UpdateUsagePlan is limited to 1 per 20 s
    _, attrs = _plan(ctx)
    apigw = _c("apigateway")
    apigw.update_usage_plan(
        usagePlanId=attrs["usage_plan_id"],
        patchOperations=[{"op": "replace", "path": "/throttle/rateLimit", "value": "7"}],
    )
    outcome, _, _ = assess(UsagePlan(), ctx)
    rate, _ = _throttle(ctx)
    assert outcome.diffs == [FieldDiff("usage_plan", "throttle.rateLimit", rate, 7.0)]
    before = ctx.aws.recorder.snapshot()
    converge(UsagePlan(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.UpdateUsagePlan": 1}
    assert apigw.get_usage_plan(usagePlanId=attrs["usage_plan_id"])["throttle"]["rateLimit"] == rate


def test_changed_limits_are_one_usage_plan_update(ctx: Context) -> None:
    # R-ENV-2: rate, burst and quota overrides together: still one UpdateUsagePlan
    _, attrs = _plan(ctx)
    changed = _with(ctx, overrides={"throttle_rate": 300, "throttle_burst": 600, "quota_per_day": 5000})
    before = ctx.aws.recorder.snapshot()
    converge(UsagePlan(), changed)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {"apigateway.UpdateUsagePlan": 1}
    plan = _c("apigateway").get_usage_plan(usagePlanId=attrs["usage_plan_id"])
    assert plan["throttle"] == {"rateLimit": 300.0, "burstLimit": 600}
    assert plan["quota"]["limit"] == 5000
    assert converge(UsagePlan(), changed).action is Action.NOOP


def test_key_left_by_a_crashed_run_is_adopted_and_an_untagged_namesake_ignored(ctx: Context) -> None:
    # R-OPS-1: the key exists (created, then the run died); someone else's key has the same name
    _api(ctx)
    apigw = _c("apigateway")
    apigw.create_api_key(name="envport-dev1-key", enabled=True)  # not ours: no tags
    orphan = apigw.create_api_key(name="envport-dev1-key", enabled=True, tags=ctx.tag_dict)["id"]
    before = ctx.aws.recorder.snapshot()
    outcome = converge(UsagePlan(), ctx)
    assert outcome.action is Action.UPDATE and outcome.attrs["api_key_id"] == orphan
    calls = _mutating_ops(ctx.aws.recorder.since(before))
    assert calls == {"apigateway.CreateUsagePlan": 1, "apigateway.CreateUsagePlanKey": 1}
    keys = apigw.get_usage_plan_keys(usagePlanId=outcome.attrs["usage_plan_id"])["items"]
    assert [k["id"] for k in keys] == [orphan]
    assert converge(UsagePlan(), ctx).action is Action.NOOP


@pytest.mark.heavy
def test_usage_plan_remove_leaves_nothing_and_is_repeatable(ctx: Context) -> None:
    # R-OPS-4: the plan loses its stages first (AWS refuses otherwise), then plan and key go
    _plan(ctx)
    assert remove(UsagePlan(), ctx).action is Action.DELETE
    apigw = _c("apigateway")
    assert apigw.get_usage_plans()["items"] == [] and apigw.get_api_keys()["items"] == []
    assert remove(UsagePlan(), ctx).action is Action.NOOP


# --- Lambda permission (R-API-1) -----------------------------------------------------------


def _statement(ctx: Context) -> dict[str, Any]:
    """The alias's statement (moto keeps every qualifier's statements in one policy)."""
    policy = json.loads(_c("lambda").get_policy(FunctionName=ctx.names.function, Qualifier="live")["Policy"])
    [statement] = [s for s in policy["Statement"] if s["Sid"] == ctx.names.permission_sid]
    assert statement["Resource"].endswith(f":function:{ctx.names.function}:live")  # R-REL-2
    return statement


@pytest.mark.heavy
def test_permission_is_scoped_to_this_api_and_stage(ctx: Context) -> None:
    # R-API-1: never SourceArn '*'; R-REL-2: on the alias API Gateway invokes
    api_id = _api(ctx)
    _function(ctx)
    converge(LiveAlias(), ctx)
    assert converge(InvokePermission(), ctx).action is Action.CREATE
    statement = _statement(ctx)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    source_arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/dev/*/*"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == source_arn
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == ACCOUNT

    before = ctx.aws.recorder.snapshot()
    assert converge(InvokePermission(), ctx).action is Action.NOOP
    assert ctx.aws.recorder.since(before).mutating == 0


def test_permission_for_an_old_api_is_replaced(ctx: Context) -> None:
    # R-API-1, R-OPS-2: a statement with this Sid from an earlier API
    api_id = _api(ctx)
    _function(ctx)
    converge(LiveAlias(), ctx)
    lam = _c("lambda")
    old = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:oldapi1234/dev/*/*"
    lam.add_permission(
        FunctionName=ctx.names.function,
        Qualifier="live",
        StatementId=ctx.names.permission_sid,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=old,
        SourceAccount=ACCOUNT,
    )
    outcome, _, _ = assess(InvokePermission(), ctx)
    wanted = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/dev/*/*"
    assert outcome.diffs == [FieldDiff("permission", "SourceArn", wanted, old)]
    before = ctx.aws.recorder.snapshot()
    converge(InvokePermission(), ctx)
    assert _mutating_ops(ctx.aws.recorder.since(before)) == {
        "lambda.RemovePermission": 1,
        "lambda.AddPermission": 1,
    }
    assert _statement(ctx)["Condition"]["ArnLike"]["AWS:SourceArn"] == wanted


@pytest.mark.heavy
def test_permission_remove_is_repeatable(ctx: Context) -> None:
    # R-OPS-4
    _api(ctx)
    _function(ctx)
    converge(LiveAlias(), ctx)
    converge(InvokePermission(), ctx)
    assert remove(InvokePermission(), ctx).action is Action.DELETE
    assert InvokePermission().observe(ctx) is None
    assert remove(InvokePermission(), ctx).action is Action.NOOP


# --- everything together -------------------------------------------------------------------


@pytest.mark.heavy
def test_second_converge_of_the_whole_api_side_makes_no_mutating_call(ctx: Context) -> None:
    # R-OPS-1: above all no CreateDeployment, UpdateUsagePlan or UpdateAccount
    resources = [ApiGatewayAccount(), RestApi(), UsagePlan(), LiveAlias(), InvokePermission()]
    _log_group(ctx)
    _function(ctx)
    for resource in resources:
        assert converge(resource, ctx).action is Action.CREATE
    before = ctx.aws.recorder.snapshot()
    for resource in resources:
        assert converge(resource, ctx).action is Action.NOOP, resource.key
    calls = ctx.aws.recorder.since(before)
    assert calls.mutating == 0
    for op in ("apigateway.CreateDeployment", "apigateway.UpdateUsagePlan", "apigateway.UpdateAccount"):
        assert op not in calls.by_operation


@pytest.mark.parametrize("resource", [RestApi(), UsagePlan(), InvokePermission()], ids=lambda r: r.key)
def test_assess_before_anything_exists_plans_a_create(ctx: Context, resource: Any) -> None:
    # plan/drift on an empty account: a missing resource, no AWS error
    outcome, desired, observed = assess(resource, ctx)
    assert outcome.action is Action.CREATE and observed is None
    assert desired
