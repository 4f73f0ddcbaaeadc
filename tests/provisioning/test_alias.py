"""The `live` alias, and API Gateway and the invoke permission pointed at it (R-REL-2).

Unit tests converge the alias alone on a function made with boto3 (so a code change is one
UpdateFunctionCode away); the engine tests run the whole environment, including the move of an
environment made before aliases (integration on the unqualified function) to the alias.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioning.aws import AwsClients, AwsTarget, is_read
from provisioning.engine import Engine
from provisioning.names import LIVE_ALIAS
from provisioning.reconcile import Action, assess, converge, remove
from provisioning.resources import rest_api_parts as parts
from provisioning.resources.alias import WEIGHTS, LiveAlias
from provisioning.resources.base import MISSING, PRESENT, Context, FieldDiff
from provisioning.spec import EnvironmentSpec, build_spec

REGION = "us-east-1"
ACCOUNT = "123456789012"
_SESSION = boto3.Session(region_name=REGION)


@pytest.fixture
def aws(mocked_aws: None) -> AwsClients:
    return AwsClients(AwsTarget(region=REGION), session=_SESSION)


def _c(service: str) -> Any:
    """A client outside the run's recorder, for reading back and tampering."""
    return _SESSION.client(service)


def _zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", body)
    return buf.getvalue()


def _function(ctx: Context, body: str = "def handler(event, context):\n    return 1\n") -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = _c("iam").create_role(RoleName="test-fn-role", AssumeRolePolicyDocument=json.dumps(trust))
    _c("lambda").create_function(
        FunctionName=ctx.names.function,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": _zip(body)},
        Environment={"Variables": {"STAGE": "dev"}},
    )


def _new_code(ctx: Context, body: str = "def handler(event, context):\n    return 2\n") -> str:
    return str(
        _c("lambda").update_function_code(FunctionName=ctx.names.function, ZipFile=_zip(body))["CodeSha256"]
    )


def _alias(ctx: Context) -> dict[str, Any]:
    return dict(_c("lambda").get_alias(FunctionName=ctx.names.function, Name=LIVE_ALIAS))


def _versions(ctx: Context) -> list[str]:
    listed = _c("lambda").list_versions_by_function(FunctionName=ctx.names.function)["Versions"]
    return [v["Version"] for v in listed if v["Version"] != "$LATEST"]


def _sha(ctx: Context, qualifier: str) -> str:
    config = _c("lambda").get_function_configuration(FunctionName=ctx.names.function, Qualifier=qualifier)
    return str(config["CodeSha256"])


def _mutating(ctx: Context, before: Any) -> dict[str, int]:
    calls = ctx.aws.recorder.since(before).by_operation
    return {op: n for op, n in calls.items() if not is_read(op.split(".", 1)[1])}


# --- the alias alone --------------------------------------------------------------------------


@pytest.mark.heavy
def test_create_publishes_version_1_and_points_live_at_it(ctx: Context) -> None:
    # R-REL-2
    _function(ctx)
    before = ctx.aws.recorder.snapshot()
    outcome = converge(LiveAlias(), ctx)
    assert outcome.action is Action.CREATE
    assert _mutating(ctx, before) == {"lambda.PublishVersion": 1, "lambda.CreateAlias": 1}
    alias = _alias(ctx)
    assert alias["FunctionVersion"] == "1" and _versions(ctx) == ["1"]
    assert (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {}) == {}
    assert _sha(ctx, "1") == _sha(ctx, "$LATEST")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{ctx.names.function}:live"
    assert alias["AliasArn"] == arn
    assert LiveAlias().outputs(ctx, outcome.attrs) == {"serving_version": "1", "alias_arn": arn}  # R-ENV-4


def test_nothing_changed_is_three_reads_and_no_write(ctx: Context) -> None:
    # R-OPS-1
    _function(ctx)
    converge(LiveAlias(), ctx)
    before = ctx.aws.recorder.snapshot()
    assert converge(LiveAlias(), ctx).action is Action.NOOP
    calls = ctx.aws.recorder.since(before)
    assert calls.mutating == 0
    assert calls.by_operation == {"lambda.GetAlias": 1, "lambda.GetFunctionConfiguration": 2}


@pytest.mark.heavy
def test_a_code_change_publishes_version_2_and_moves_the_alias(ctx: Context) -> None:
    # R-REL-2: the version the alias serves holds $LATEST's code
    _function(ctx)
    converge(LiveAlias(), ctx)
    old_sha = _sha(ctx, "1")
    new_sha = _new_code(ctx)
    outcome, _, _ = assess(LiveAlias(), ctx)
    assert outcome.action is Action.UPDATE
    assert outcome.diffs == [FieldDiff("alias", "CodeSha256", new_sha, old_sha)]
    publishes: list[dict[str, Any]] = []
    ctx.client("lambda").meta.events.register(
        "provide-client-params.lambda.PublishVersion", lambda params, **_: publishes.append(dict(params))
    )
    before = ctx.aws.recorder.snapshot()
    converge(LiveAlias(), ctx)
    assert _mutating(ctx, before) == {"lambda.PublishVersion": 1, "lambda.UpdateAlias": 1}
    assert publishes == [{"FunctionName": ctx.names.function, "CodeSha256": new_sha}]  # the precondition
    assert _alias(ctx)["FunctionVersion"] == "2" and _sha(ctx, "2") == new_sha
    assert converge(LiveAlias(), ctx).action is Action.NOOP


def test_a_configuration_change_publishes_a_version_too(ctx: Context) -> None:
    # R-REL-2: a version freezes the configuration as well as the code
    _function(ctx)
    converge(LiveAlias(), ctx)
    _c("lambda").update_function_configuration(FunctionName=ctx.names.function, Timeout=9)
    outcome, _, _ = assess(LiveAlias(), ctx)
    assert [(d.field, d.wanted, d.found) for d in outcome.diffs] == [("Timeout", 9, 3)]
    converge(LiveAlias(), ctx)
    assert _alias(ctx)["FunctionVersion"] == "2"
    assert (
        _c("lambda").get_function_configuration(FunctionName=ctx.names.function, Qualifier="live")["Timeout"]
        == 9
    )


def test_a_run_interrupted_after_publishing_makes_no_second_version(ctx: Context) -> None:
    # R-OPS-1: a run died between PublishVersion and UpdateAlias
    _function(ctx)
    converge(LiveAlias(), ctx)
    _new_code(ctx)
    _c("lambda").publish_version(FunctionName=ctx.names.function)  # what the dead run did
    assert _versions(ctx) == ["1", "2"]
    converge(LiveAlias(), ctx)
    assert _versions(ctx) == ["1", "2"]  # PublishVersion of unchanged code returned version 2
    assert _alias(ctx)["FunctionVersion"] == "2"
    aliases = _c("lambda").list_aliases(FunctionName=ctx.names.function)["Aliases"]
    assert [a["Name"] for a in aliases] == [LIVE_ALIAS]


@pytest.mark.heavy
def test_an_alias_made_by_a_run_we_did_not_see_finish_is_adopted(ctx: Context) -> None:
    # R-OPS-1: create finds the alias already there (ResourceConflict) and repoints it
    _function(ctx)
    _c("lambda").publish_version(FunctionName=ctx.names.function)
    _c("lambda").create_alias(FunctionName=ctx.names.function, Name=LIVE_ALIAS, FunctionVersion="1")
    new_sha = _new_code(ctx)
    attrs = LiveAlias().create(ctx, LiveAlias().desired(ctx))
    assert attrs["version"] == "2" and _sha(ctx, "live") == new_sha


def test_code_changed_after_the_comparison_is_not_published_unseen(ctx: Context) -> None:
    # R-REL-2: PublishVersion carries the CodeSha256 that was compared; AWS refuses another
    _function(ctx)
    converge(LiveAlias(), ctx)
    _new_code(ctx)
    outcome, desired, observed = assess(LiveAlias(), ctx)
    assert observed is not None
    _new_code(ctx, "def handler(event, context):\n    return 3\n")  # someone else, meanwhile
    with pytest.raises(ClientError, match="CodeSHA256"):
        LiveAlias().update(ctx, desired, observed, outcome.diffs)
    assert _versions(ctx) == ["1"] and _alias(ctx)["FunctionVersion"] == "1"


def test_drift_when_someone_moves_the_alias_back_or_adds_weights(ctx: Context) -> None:
    # R-REL-2, R-OPS-2: outside a release the alias serves $LATEST's code, all of the traffic
    _function(ctx)
    converge(LiveAlias(), ctx)
    old_sha = _sha(ctx, "1")
    new_sha = _new_code(ctx)
    converge(LiveAlias(), ctx)
    lam = _c("lambda")
    lam.update_alias(FunctionName=ctx.names.function, Name=LIVE_ALIAS, FunctionVersion="1")
    outcome, _, _ = assess(LiveAlias(), ctx)
    assert outcome.diffs == [FieldDiff("alias", "CodeSha256", new_sha, old_sha)]
    before = ctx.aws.recorder.snapshot()
    converge(LiveAlias(), ctx)
    # the version holding the code exists already: PublishVersion returns it, no version 3
    assert _mutating(ctx, before) == {"lambda.PublishVersion": 1, "lambda.UpdateAlias": 1}
    assert _alias(ctx)["FunctionVersion"] == "2" and _versions(ctx) == ["1", "2"]

    lam.update_alias(
        FunctionName=ctx.names.function,
        Name=LIVE_ALIAS,
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.2}},
    )
    outcome, _, _ = assess(LiveAlias(), ctx)
    assert outcome.diffs == [FieldDiff("alias", WEIGHTS, {}, {"1": 0.2})]
    before = ctx.aws.recorder.snapshot()
    converge(LiveAlias(), ctx)
    assert _mutating(ctx, before) == {"lambda.UpdateAlias": 1}  # weights only: nothing published
    alias = _alias(ctx)
    assert alias["FunctionVersion"] == "2"
    assert (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {}) == {}


def test_plan_before_the_function_exists_is_a_create_without_error(ctx: Context) -> None:
    outcome, desired, observed = assess(LiveAlias(), ctx)
    assert outcome.action is Action.CREATE and observed is None
    assert desired[WEIGHTS] == {}


def test_remove_is_repeatable(ctx: Context) -> None:
    # R-OPS-4
    _function(ctx)
    converge(LiveAlias(), ctx)
    assert remove(LiveAlias(), ctx).action is Action.DELETE
    assert _c("lambda").list_aliases(FunctionName=ctx.names.function)["Aliases"] == []
    assert remove(LiveAlias(), ctx).action is Action.NOOP


# --- the whole environment ------------------------------------------------------------------------


def _spec() -> EnvironmentSpec:
    return build_spec(suffix="rel1", stage="staging", owner="team-a", cost_centre="cc-42")


def _engine(spec: EnvironmentSpec) -> Engine:
    return Engine(spec, AwsTarget(region=REGION), sleep=lambda _s: None)


def _integrations(api_id: str) -> dict[str, str]:
    """Every AWS_PROXY method's integration URI, by 'VERB /path'."""
    out = {}
    for resource in _c("apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]:
        for verb, method in (resource.get("resourceMethods") or {}).items():
            integration = method.get("methodIntegration") or {}
            if integration.get("type") == "AWS_PROXY":
                out[f"{verb} {resource['path']}"] = integration["uri"]
    return out


def _statements(function: str) -> list[dict[str, Any]]:
    """moto keeps one policy per function whatever the qualifier: every statement, alias or not."""
    return list(json.loads(_c("lambda").get_policy(FunctionName=function)["Policy"])["Statement"])


@pytest.mark.heavy
def test_every_method_invokes_the_alias_and_only_the_api_may(mocked_aws: None) -> None:
    # R-REL-2, R-API-1
    spec = _spec()
    result = _engine(spec).apply()
    assert result.ok, result.error
    names = spec.names
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{names.function}"
    api_id = result.outputs["api_id"]
    uris = _integrations(api_id)
    assert len(uris) == 5
    wanted = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}:live/invocations"
    assert set(uris.values()) == {wanted}
    assert all(uri.endswith(":live/invocations") for uri in uris.values())

    [statement] = _statements(names.function)
    assert statement["Sid"] == names.permission_sid
    assert statement["Resource"] == f"{function_arn}:live"  # added with Qualifier live
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    source = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{names.api_stage}/*/*"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == source
    assert result.outputs["alias_arn"] == f"{function_arn}:live"  # R-ENV-4
    assert result.outputs["serving_version"] == "1"


def _make_it_an_environment_from_before_aliases(spec: EnvironmentSpec, api_id: str) -> None:
    """What an environment provisioned before this change looks like: integrations on the
    unqualified function, deployed (the stage records that definition), the permission on the
    function, and no alias."""
    names = spec.names
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{names.function}"
    old_uri = parts.lambda_integration_uri("aws", REGION, function_arn)
    apigw = _c("apigateway")
    resources = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api_id)["items"]}
    for path, verbs in parts.ROUTES.items():
        for verb in verbs:
            apigw.update_integration(
                restApiId=api_id,
                resourceId=resources[path],
                httpMethod=verb,
                patchOperations=[{"op": "replace", "path": "/uri", "value": old_uri}],
            )
    digest = parts.definition_digest(
        parts.definition_fields(old_uri, parts.allowed_origin(spec.cors_origins))
    )
    deployment = apigw.create_deployment(restApiId=api_id)["id"]
    apigw.update_stage(
        restApiId=api_id,
        stageName=names.api_stage,
        patchOperations=[
            {"op": "replace", "path": "/deploymentId", "value": deployment},
            {"op": "replace", "path": "/description", "value": parts.stage_description(digest)},
        ],
    )
    lam = _c("lambda")
    [statement] = _statements(names.function)
    lam.remove_permission(FunctionName=names.function, StatementId=statement["Sid"], Qualifier=LIVE_ALIAS)
    lam.add_permission(
        FunctionName=names.function,
        StatementId=names.legacy_permission_sid,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        SourceAccount=ACCOUNT,
    )
    lam.delete_alias(FunctionName=names.function, Name=LIVE_ALIAS)


@pytest.mark.heavy
def test_an_environment_from_before_aliases_moves_in_one_provision(mocked_aws: None) -> None:
    # R-REL-2: N integration updates and ONE deployment, shown in the plan; then idempotent
    spec = _spec()
    created = _engine(spec).apply()
    assert created.ok, created.error
    api_id = created.outputs["api_id"]
    _make_it_an_environment_from_before_aliases(spec, api_id)
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{spec.names.function}"

    plan = _engine(spec).plan()
    assert plan.ok, plan.error
    by_step = {s.resource: s for s in plan.steps}
    uri_diffs = [d for d in by_step["rest_api"].diffs if d.field.endswith(".integration.uri")]
    assert len(uri_diffs) == 5
    assert all(str(d.wanted).endswith(":live/invocations") for d in uri_diffs)
    assert all(str(d.found).endswith(f"function:{spec.names.function}/invocations") for d in uri_diffs)
    assert by_step["alias"].action == "create"
    assert by_step["permission"].diffs == [
        FieldDiff("permission", "Resource", f"{function_arn}:live", function_arn)
    ]
    changing = {s.resource for s in plan.steps if s.action != "no-op"}
    assert changing == {"rest_api", "alias", "permission"}

    old_deployment = _c("apigateway").get_stage(restApiId=api_id, stageName=spec.names.api_stage)[
        "deploymentId"
    ]
    moved = _engine(spec).apply()
    assert moved.ok, moved.error
    mutating = {op: n for op, n in moved.calls.by_operation.items() if not is_read(op.split(".", 1)[1])}
    assert mutating == {
        "apigateway.UpdateIntegration": 5,
        "apigateway.CreateDeployment": 1,
        "apigateway.UpdateStage": 1,
        "lambda.PublishVersion": 1,
        "lambda.CreateAlias": 1,
        "lambda.AddPermission": 1,
        "lambda.RemovePermission": 1,
    }
    stage = _c("apigateway").get_stage(restApiId=api_id, stageName=spec.names.api_stage)
    assert stage["deploymentId"] != old_deployment  # the stage serves the alias now
    assert all(uri.endswith(":live/invocations") for uri in _integrations(api_id).values())
    [statement] = _statements(spec.names.function)  # the unqualified statement is gone
    assert (statement["Sid"], statement["Resource"]) == (spec.names.permission_sid, f"{function_arn}:live")

    again = _engine(spec).apply()
    assert again.ok and again.calls.mutating == 0, again.calls.by_operation
    assert _engine(spec).drift().findings == []


@pytest.mark.heavy
def test_a_migration_interrupted_after_adding_the_alias_statement_removes_the_old_one(
    mocked_aws: None,
) -> None:
    # R-OPS-1: both statements present: the leftover unqualified one is the only difference
    spec = _spec()
    created = _engine(spec).apply()
    assert created.ok, created.error
    names = spec.names
    [statement] = _statements(names.function)
    _c("lambda").add_permission(
        FunctionName=names.function,
        StatementId=names.legacy_permission_sid,
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=statement["Condition"]["ArnLike"]["AWS:SourceArn"],
        SourceAccount=ACCOUNT,
    )
    report = _engine(spec).drift()
    assert report.findings == [FieldDiff("permission", "UnqualifiedStatement", MISSING, PRESENT)]
    repaired = _engine(spec).apply()
    assert {op: n for op, n in repaired.calls.by_operation.items() if op.endswith("Permission")} == {
        "lambda.RemovePermission": 1
    }
    assert [s["Sid"] for s in _statements(names.function)] == [names.permission_sid]


@pytest.mark.heavy
def test_destroy_removes_the_alias_and_its_statement(mocked_aws: None) -> None:
    # R-OPS-4
    spec = _spec()
    assert _engine(spec).apply().ok
    result = _engine(spec).destroy()
    assert result.ok, result.error
    assert {s.resource for s in result.steps if s.action == "delete"} >= {"alias", "permission"}
    with pytest.raises(_c("lambda").exceptions.ResourceNotFoundException):
        _c("lambda").get_function(FunctionName=spec.names.function)
