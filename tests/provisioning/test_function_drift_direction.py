"""Plan equals apply, and drift speaks its direction, for the function, its version and the alias.

Issue 23's alias case: after the function's memory was changed out of band, drift reported
`alias.MemorySize wanted 512 found 256` beside `function.MemorySize wanted 256 found 512`, the
plan said it would set the alias's MemorySize 256 -> 512, and apply changed only the function.
The alias's wanted state was read from $LATEST as it was, not as the function's step leaves it.

Each of the function's settings is changed out of band here, and drift's wanted/found, the plan's
rows and the calls apply then makes must agree: wanted is always the spec's value, found the
changed one, and apply makes exactly the calls the rows name (the function's alone while the
published version the alias serves still holds the spec's values; a publish and an alias move too
when the out-of-band change was published and the alias moved onto it).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from provisioning.aws import AwsTarget, is_read
from provisioning.engine import Engine, RunResult
from provisioning.names import LIVE_ALIAS
from provisioning.resources import resources_for
from provisioning.resources.base import MISSING
from provisioning.spec import EnvironmentSpec, build_spec

REGION = "us-east-1"
_SESSION = boto3.Session(region_name=REGION)


def _c(service: str) -> Any:
    return _SESSION.client(service)


def _spec() -> EnvironmentSpec:
    return build_spec(suffix="oob1", stage="dev", region=REGION, owner="team-a", cost_centre="cc-42")


# The function, its alias and what the function's desired state names: the rest of the graph
# neither reads nor writes the function (the whole environment is run once, for the issue's case).
PART = ("function_role", "dlq", "function_log_group", "kms_key", "artifact_bucket", "function", "alias")


def _part_or_whole(spec: EnvironmentSpec, *, whole: bool = False) -> Engine:
    resources = [r for r in resources_for(spec) if whole or r.key in PART]
    return Engine(spec, AwsTarget(region=REGION), sleep=lambda _s: None, resources=resources)


def _engine(spec: EnvironmentSpec, *, whole: bool = False) -> Engine:
    return _part_or_whole(spec, whole=whole)


def _mutating(result: RunResult) -> dict[str, int]:
    return {op: n for op, n in result.calls.by_operation.items() if not is_read(op.split(".", 1)[1])}


def _rows(result: RunResult) -> list[tuple[str, str, Any, Any]]:
    return sorted((d.resource, d.field, json.dumps(d.wanted), json.dumps(d.found)) for d in result.findings)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("other.py", "def handler(event, context):\n    return 2\n")
    return buf.getvalue()


def _role() -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(
        _c("iam").create_role(RoleName="someone-elses", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
    )


@dataclass(frozen=True)
class Change:
    """One out-of-band change: what is done, the fields it shows as, and the calls that undo it."""

    name: str
    do: Callable[[str], None]  # given the function's name
    fields: tuple[str, ...]  # the function's fields drift reports
    undo: dict[str, int]  # the calls apply makes on the function
    frozen: bool = True  # a version freezes it: the published variant moves the alias too


def _config(**params: Any) -> Callable[[str], None]:
    return lambda name: _c("lambda").update_function_configuration(FunctionName=name, **params) and None


CONFIG = {"lambda.UpdateFunctionConfiguration": 1}
CHANGES = [
    Change("memory", _config(MemorySize=512), ("MemorySize",), CONFIG),
    Change("timeout", _config(Timeout=3), ("Timeout",), CONFIG),
    Change("handler", _config(Handler="other.handler"), ("Handler",), CONFIG),
    Change("runtime", _config(Runtime="python3.11"), ("Runtime",), CONFIG),
    Change("role", lambda name: _config(Role=_role())(name), ("Role",), CONFIG),
    Change(
        "variables", _config(Environment={"Variables": {"STAGE": "prod"}}), ("Environment.Variables",), CONFIG
    ),
    Change("tracing", _config(TracingConfig={"Mode": "PassThrough"}), ("TracingConfig.Mode",), CONFIG),
    Change(
        "kms key",
        lambda name: _config(KMSKeyArn=_c("kms").create_key()["KeyMetadata"]["Arn"])(name),
        ("KMSKeyArn",),
        CONFIG,
    ),
    Change(
        "dead-letter queue",
        lambda name: _config(
            DeadLetterConfig={
                "TargetArn": _c("sqs").get_queue_attributes(
                    QueueUrl=_c("sqs").create_queue(QueueName="elsewhere")["QueueUrl"],
                    AttributeNames=["QueueArn"],
                )["Attributes"]["QueueArn"]
            }
        )(name),
        ("DeadLetterConfig.TargetArn",),
        CONFIG,
    ),
    Change(
        "log level",
        _config(
            LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "INFO"}
        ),
        ("LoggingConfig.ApplicationLogLevel",),
        CONFIG,
    ),
    Change(
        "code",
        lambda name: _c("lambda").update_function_code(FunctionName=name, ZipFile=_zip()) and None,
        ("CodeSha256",),
        {"lambda.UpdateFunctionCode": 1},
    ),
    Change(
        "concurrency",
        lambda name: (
            _c("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3) and None
        ),
        ("ReservedConcurrentExecutions",),
        {"lambda.PutFunctionConcurrency": 1},
        frozen=False,
    ),
    Change(
        "tags",
        lambda name: (
            _c("lambda").tag_resource(
                Resource=_c("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"],
                Tags={"Extra": "yes"},
            )
            and None
        ),
        ("tags",),
        {"lambda.UntagResource": 1},
        frozen=False,
    ),
]


def _provisioned(*, whole: bool = False) -> EnvironmentSpec:
    spec = _spec()
    created = _part_or_whole(spec, whole=whole).apply()
    assert created.ok, created.error
    return spec


def _assert_agree(
    spec: EnvironmentSpec, change: Change, resources: set[str], calls: dict[str, int], *, whole: bool = False
) -> None:
    def _engine(spec: EnvironmentSpec) -> Engine:
        return _part_or_whole(spec, whole=whole)

    drift = _engine(spec).drift()
    assert drift.ok, drift.error
    function_fields = {d.field for d in drift.findings if d.resource == "function"}
    assert function_fields == set(change.fields), drift.findings
    assert {d.resource for d in drift.findings} == resources, drift.findings
    wanted = _engine(spec).plan()  # what a fresh plan of the live state would set
    # Direction: wanted is the spec's value (what a clean apply leaves), found the changed one.
    for finding in drift.findings:
        assert finding.wanted != finding.found
        if finding.resource == "alias" and finding.field in change.fields:
            [twin] = [d for d in drift.findings if d.resource == "function" and d.field == finding.field]
            assert (finding.wanted, finding.found) == (twin.wanted, twin.found)

    # The plan's rows are drift's findings, and it changes exactly the resources they name.
    assert _rows(wanted) == _rows(drift)
    assert {s.resource for s in wanted.changes} == resources

    applied = _engine(spec).apply()
    assert applied.ok, applied.error
    assert _rows(applied) == _rows(wanted)
    assert {s.resource for s in applied.changes} == resources
    assert _mutating(applied) == calls
    assert _engine(spec).drift().findings == []


@pytest.mark.heavy
def test_an_out_of_band_change_of_the_function_is_the_functions_finding_alone(mocked_aws: None) -> None:
    """Issue 23: the alias case. The version the alias serves still holds the spec's values, so
    only the function differs: drift and plan say so the right way round, apply calls only the
    function's API (no version published, the alias left where it is).

    One environment for every setting in turn: each case ends converged (drift empty, asserted),
    which is where the next one starts."""
    # R-OPS-2, R-VER-3
    spec = _provisioned()
    for change in CHANGES:
        change.do(spec.names.function)
        try:
            _assert_agree(spec, change, {"function"}, change.undo)
        except AssertionError as exc:
            raise AssertionError(f"{change.name}: {exc}") from exc
        alias = _c("lambda").get_alias(FunctionName=spec.names.function, Name=LIVE_ALIAS)
        assert alias["FunctionVersion"] == "1", change.name


def _publish_and_point(name: str) -> str:
    version = str(_c("lambda").publish_version(FunctionName=name)["Version"])
    _c("lambda").update_alias(FunctionName=name, Name=LIVE_ALIAS, FunctionVersion=version)
    return version


# One change of each shape a version freezes: a number, a string, an ARN, a mapping, a nested
# setting, the code.
PUBLISHED = ("memory", "handler", "role", "variables", "log level", "code")


@pytest.mark.heavy
def test_an_out_of_band_change_published_and_served_is_undone_in_the_function_version_and_alias(
    mocked_aws: None,
) -> None:
    """Issue 23: the changed $LATEST was published and the alias moved onto it. Both the function
    and the alias report the spec's value as wanted and the changed one as found; apply puts
    $LATEST back, publishes it, and moves the alias onto that version."""
    # R-OPS-2, R-VER-3, R-REL-2
    spec = _provisioned()
    name = spec.names.function
    for change in [c for c in CHANGES if c.name in PUBLISHED]:
        change.do(name)
        changed = _publish_and_point(name)
        try:
            _assert_agree(
                spec,
                change,
                {"function", "alias"},
                {**change.undo, "lambda.PublishVersion": 1, "lambda.UpdateAlias": 1},
            )
        except AssertionError as exc:
            raise AssertionError(f"{change.name}: {exc}") from exc
        serving = _c("lambda").get_alias(FunctionName=name, Name=LIVE_ALIAS)["FunctionVersion"]
        assert serving != changed, change.name
        latest = _c("lambda").get_function_configuration(FunctionName=name)
        version = _c("lambda").get_function_configuration(FunctionName=name, Qualifier=serving)
        for key in ("CodeSha256", "MemorySize", "Timeout", "Handler", "Runtime", "Role", "Environment"):
            assert version.get(key, MISSING) == latest.get(key, MISSING), (change.name, key)


@pytest.mark.heavy
def test_the_issues_case_in_the_whole_environment(mocked_aws: None) -> None:
    """Issue 23: the function's memory changed out of band, run through the whole environment's
    graph: drift, plan and apply name the function alone, wanted 256 found 512."""
    # R-OPS-2, R-VER-3
    spec = _provisioned(whole=True)
    [memory] = [c for c in CHANGES if c.name == "memory"]
    memory.do(spec.names.function)
    drift = _engine(spec, whole=True).drift()
    assert [(d.resource, d.field, d.wanted, d.found) for d in drift.findings] == [
        ("function", "MemorySize", 256, 512)
    ]
    _assert_agree(spec, memory, {"function"}, memory.undo, whole=True)
