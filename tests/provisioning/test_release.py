"""The release engine against moto in decorator mode (R-REL-2..6).

moto runs no function code here (no Docker), so the journey against a version is proved against
the local cloud in tests/e2e/test_release_local.py (a different basename: pytest imports test
modules by basename). These tests take the paths that need no journey: input validation,
"unchanged", refusals, resuming a release whose journeys already passed (the bake, the alarm and
metric watch, the final shift), never leaving traffic split, rollback and retention. Time is an
injected clock that `sleep` advances, so a bake of minutes takes no time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.bundle import deterministic_zip
from provisioning.names import HANDLER, LIVE_ALIAS
from provisioning.release import (
    PROMOTED,
    ROLLED_BACK,
    SHIFTED,
    CodeRef,
    ReleaseEvent,
    ReleaseInputError,
    ReleaseRefused,
    ReleaseState,
    Strategy,
    parse_duration,
    release,
    rollback,
    serving,
    strategy_for,
)
from provisioning.resources.alarms import alarm_name
from provisioning.spec import EnvironmentSpec

REGION = "us-east-1"
BUCKET = "envport-artifacts-test"
T0 = float(int(time.time()))  # real time: CloudWatch keeps datapoints for a limited period only


@dataclass
class Clock:
    """Wall-clock time that only `sleep` moves; `hooks` run at given sleeps (0-based)."""

    now: float = T0
    slept: list[float] = field(default_factory=list)
    hooks: dict[int, Callable[[], None]] = field(default_factory=dict)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        hook = self.hooks.get(len(self.slept))
        self.slept.append(seconds)
        self.now += seconds
        if hook is not None:
            hook()


def _c(service: str) -> Any:
    """A client outside the run's recorder: set-up and reading back."""
    return boto3.client(service, region_name=REGION)


def _artifact(n: int) -> CodeRef:
    """A distinct zip per n, uploaded to S3 as the artifact store does (artifacts/<sha256>.zip)."""
    data = deterministic_zip(
        {"lambda_bundle/__init__.py": b"", "lambda_bundle/handler.py": f"V = {n}\n".encode()}
    )
    sha = hashlib.sha256(data).hexdigest()
    key = f"artifacts/{sha}.zip"
    _c("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
    return CodeRef(BUCKET, key, sha)


@dataclass
class Env:
    spec: EnvironmentSpec
    clients: AwsClients
    codes: list[CodeRef]  # codes[i] is the code of version i + 1
    queue_url: str

    @property
    def function(self) -> str:
        return self.spec.names.function

    def alias(self) -> tuple[str, dict[str, float]]:
        got = _c("lambda").get_alias(FunctionName=self.function, Name=LIVE_ALIAS)
        return got["FunctionVersion"], (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}

    def set_alias(self, version: str, weights: dict[str, float] | None = None) -> None:
        _c("lambda").update_alias(
            FunctionName=self.function,
            Name=LIVE_ALIAS,
            FunctionVersion=version,
            RoutingConfig={"AdditionalVersionWeights": weights or {}},
        )

    def publish(self, code: CodeRef) -> str:
        lam = _c("lambda")
        lam.update_function_code(FunctionName=self.function, S3Bucket=code.bucket, S3Key=code.key)
        self.codes.append(code)
        return str(lam.publish_version(FunctionName=self.function)["Version"])

    def versions(self) -> list[str]:
        found = _c("lambda").list_versions_by_function(FunctionName=self.function)["Versions"]
        return [v["Version"] for v in found if v["Version"] != "$LATEST"]

    def notifications(self) -> list[dict[str, Any]]:
        """The release's messages on the alarm topic (the alarms' own notifications are skipped)."""
        got = _c("sqs").receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        messages = [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]
        return [m for m in messages if m.get("source") == "envport"]


@pytest.fixture
def env(mocked_aws: None, spec: EnvironmentSpec) -> Env:
    """The function with version 1 behind the alias, the artifact bucket, the alarm topic (with a
    queue subscribed to read its notifications) and the environment's Errors alarm."""
    names = spec.names
    _c("s3").create_bucket(Bucket=BUCKET)
    role = _c("iam").create_role(
        RoleName=names.function_role,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    first = _artifact(1)
    lam = _c("lambda")
    lam.create_function(
        FunctionName=names.function,
        Runtime="python3.12",
        Role=role,
        Handler=HANDLER,
        Code={"S3Bucket": first.bucket, "S3Key": first.key},
    )
    version = lam.publish_version(FunctionName=names.function)["Version"]
    lam.create_alias(FunctionName=names.function, Name=LIVE_ALIAS, FunctionVersion=version)
    topic = _c("sns").create_topic(Name=names.topic)["TopicArn"]
    queue_url = _c("sqs").create_queue(QueueName=f"{names.base}-watch")["QueueUrl"]
    queue_arn = _c("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _c("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    _c("cloudwatch").put_metric_alarm(
        AlarmName=alarm_name(names, "lambda-errors"),
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": names.function}],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
    )
    return Env(spec, AwsClients(AwsTarget(region=REGION)), [first], queue_url)


def _no_api_gateway(calls: CallCounts) -> None:
    # R-REL-2: a release or rollback never calls API Gateway
    assert not [op for op in calls.by_operation if op.startswith("apigateway.")], calls.by_operation


def _baking(env: Env, percent: int, since: float, *, checked: bool = True) -> ReleaseState:
    """A release of a new version 2 that a dead worker left at `percent` (alias set to match)."""
    code = _artifact(2)
    to = env.publish(code)
    env.set_alias("1", {to: percent / 100})
    return ReleaseState(
        code.sha256_hex,
        from_version="1",
        to_version=to,
        percent=percent,
        phase=SHIFTED,
        started_at=since - 30,
        bake_started_at=since,
        pre_traffic_passed=True,
        checked_percent=percent if checked else None,
        traffic=[{"at": since, "percent": percent}],
    )


# --- input ---------------------------------------------------------------------------------------
def test_durations_parse_or_are_refused_with_what_is_allowed() -> None:
    # R-REL-3
    assert [parse_duration(t) for t in ("30s", "5m", "1h", "0s", 45)] == [30, 300, 3600, 0, 45]
    for bad in ("5", "5 min", "1d", "-1s", "", "25h", "1.5m", True):
        with pytest.raises(ReleaseInputError) as caught:
            parse_duration(bad)  # type: ignore[arg-type]
        assert caught.value.problems[0].field == "duration"
        assert "30s, 5m or 1h" in str(caught.value)


def test_stage_defaults_and_per_release_overrides() -> None:
    # R-REL-3
    assert strategy_for("dev") == Strategy("all-at-once")
    assert strategy_for("staging") == Strategy("canary", percent=10, bake_s=300)
    assert strategy_for("prod") == Strategy("canary", percent=10, bake_s=600)
    assert strategy_for("prod", percent="25", bake="1m") == Strategy("canary", percent=25, bake_s=60)
    linear = strategy_for("dev", kind="linear", percent=30, interval="2m")
    assert linear == Strategy("linear", percent=30, interval_s=120)
    assert linear.steps() == [(30, 120), (60, 120), (90, 120), (100, 0)]
    assert strategy_for("staging").steps() == [(10, 300), (100, 0)]
    assert strategy_for("dev").steps() == [(100, 0)]


def test_every_problem_of_a_strategy_is_listed_at_once() -> None:
    # R-REL-3
    with pytest.raises(ReleaseInputError) as caught:
        strategy_for("prod", percent=0, bake="soon", interval="1m")
    fields = {p.field: p.allowed for p in caught.value.problems}
    assert fields.keys() == {"percent", "bake", "interval"}
    assert fields["percent"] == "an integer from 1 to 99"
    assert "only linear releases take a interval" in fields["interval"]
    with pytest.raises(ReleaseInputError) as caught:
        strategy_for("qa", kind="blue-green", bake="1x")
    assert {p.field for p in caught.value.problems} == {"stage", "strategy", "bake"}
    with pytest.raises(ReleaseInputError):
        strategy_for("dev", percent=10)  # all-at-once takes no percent


def test_bad_input_is_refused_before_any_aws_call(env: Env) -> None:
    # R-REL-3
    clients = AwsClients(AwsTarget(region=REGION))
    bad_code = CodeRef("", "k", "not-a-sha", handler="nohandler")
    with pytest.raises(ReleaseInputError) as caught:
        release(env.spec, clients, bad_code, Strategy("canary", percent=100), retain=0)
    assert {p.field for p in caught.value.problems} == {
        "code.bucket",
        "code.sha256",
        "handler",
        "percent",
        "retain",
    }
    with pytest.raises(ReleaseInputError):
        rollback(env.spec, clients, to_version="$LATEST")
    assert clients.recorder.snapshot().total == 0


# --- unchanged and refusals ----------------------------------------------------------------------
def test_releasing_the_serving_artifact_makes_no_mutating_call(env: Env) -> None:
    # R-REL-6
    events: list[ReleaseEvent] = []
    result = release(env.spec, env.clients, env.codes[0], Strategy("canary", 10, 300), on_event=events.append)
    assert result.outcome == "unchanged" and result.ok
    assert result.calls.mutating == 0 and result.calls.total == 2, result.calls.by_operation
    assert (result.from_version, result.to_version) == ("1", "1")
    assert [e.state.phase for e in events] == ["unchanged"]
    _no_api_gateway(result.calls)
    assert serving(env.spec, env.clients).code_sha256 == env.codes[0].sha256_b64


@pytest.mark.heavy
def test_an_environment_without_the_alias_or_with_a_split_alias_is_refused_unchanged(env: Env) -> None:
    # R-REL-2, R-REL-5
    code = _artifact(2)
    to = env.publish(code)
    env.set_alias("1", {to: 0.5})
    with pytest.raises(ReleaseRefused, match=r"is split \(version 1 at 50%, version 2 at 50%\)"):
        release(env.spec, env.clients, _artifact(3), Strategy())
    _c("lambda").delete_alias(FunctionName=env.function, Name=LIVE_ALIAS)
    before = env.clients.recorder.snapshot()
    with pytest.raises(ReleaseRefused, match="has no alias 'live': provision the environment first"):
        release(env.spec, env.clients, _artifact(3), Strategy())
    assert env.clients.recorder.since(before).mutating == 0


# --- resume, watch, promote ----------------------------------------------------------------------
@pytest.mark.heavy
def test_a_release_resumed_mid_bake_finishes_the_bake_and_ends_once(env: Env) -> None:
    # R-REL-5, R-REL-3, R-REL-2
    clock = Clock()
    state = _baking(env, 10, since=T0 - 120)  # a 300 s bake that ran for 120 s before the worker died
    events: list[ReleaseEvent] = []
    result = release(
        env.spec,
        env.clients,
        env.codes[1],
        Strategy("canary", 10, 300),
        state,
        on_event=events.append,
        poll_s=60,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome == PROMOTED and result.ok, (result.error, result.reason)
    assert sum(clock.slept) == pytest.approx(180)  # only what was left of the bake
    ops = result.calls.by_operation
    assert not {"lambda.PublishVersion", "lambda.UpdateFunctionCode", "lambda.Invoke"} & set(ops), ops
    assert ops["lambda.UpdateAlias"] == 1  # the final shift only
    assert ops["cloudwatch.DescribeAlarms"] >= 4  # watched every poll of the remaining bake
    assert env.alias() == ("2", {})
    assert [t["percent"] for t in result.traffic] == [10, 100]
    assert [e.state.phase for e in events].count(PROMOTED) == 1
    passed = [c for c in result.checks if c.requirement == "R-REL-4"]
    assert passed and all(c.passed for c in passed)
    assert {c.name for c in passed} >= {
        "alarms with 10% of traffic on version 2",
        "errors of version 2 with 10% of traffic",
    }
    _no_api_gateway(result.calls)
    # called again with the final state (the worker died before the portal stored the end): no change
    again = release(env.spec, env.clients, env.codes[1], Strategy("canary", 10, 300), events[-1].state)
    assert again.outcome == PROMOTED and again.calls.mutating == 0


@pytest.mark.heavy
def test_the_alias_is_the_truth_when_the_worker_died_before_recording_a_shift(env: Env) -> None:
    # R-REL-5
    clock = Clock()
    state = _baking(env, 10, since=T0)
    env.set_alias("1", {"2": 0.1})
    state.percent, state.bake_started_at, state.phase, state.traffic = 0, None, "verified", []
    state.checked_percent = 10
    result = release(
        env.spec, env.clients, env.codes[1], Strategy("canary", 10, 60), state, clock=clock, sleep=clock.sleep
    )
    assert result.outcome == PROMOTED, result.error
    assert "the alias gave version 2 10%, the state said 0%" in result.notes
    assert sum(clock.slept) == pytest.approx(60)  # the bake restarts: when it began was never recorded
    assert env.alias() == ("2", {})


@pytest.mark.heavy
def test_an_alarm_in_alarm_during_the_bake_rolls_back_and_notifies(env: Env) -> None:
    # R-REL-4
    name = alarm_name(env.spec.names, "lambda-errors")
    clock = Clock(hooks={1: lambda: _c("cloudwatch").set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: 3 datapoints >= 1"
    )})  # fmt: skip
    state = _baking(env, 10, since=T0)
    result = release(
        env.spec,
        env.clients,
        env.codes[1],
        Strategy("canary", 10, 300),
        state,
        poll_s=30,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome == ROLLED_BACK and not result.ok
    assert result.reason == (
        f"alarm {name} with 10% of traffic on version 2: expected OK or INSUFFICIENT_DATA, "
        "found ALARM: Threshold Crossed: 3 datapoints >= 1"
    )
    assert len(clock.slept) == 2  # decided at the first look after the alarm fired
    assert env.alias() == ("1", {})
    assert [t["percent"] for t in result.traffic] == [10, 0]
    assert result.notified
    (note,) = env.notifications()
    assert note["event"] == "release rolled_back" and note["reason"] == result.reason
    assert (note["from_version"], note["to_version"], note["serving"]) == ("1", "2", "1")
    _no_api_gateway(result.calls)


@pytest.mark.heavy
def test_a_canary_failing_in_alternate_minutes_rolls_back_when_awss_rules_say(env: Env) -> None:
    """Issue 22, done when: a release whose canary produces errors only in alternate minutes is decided
    the same way as AWS's rules decide it. The Errors alarm as provisioned (Sum over 5 minutes >= the
    threshold, here staging's 5, 1 of 1, missing data not breaching) is evaluated by the local cloud's
    evaluator at every poll of the bake. The canary fails twice in every odd minute: the clock-aligned
    5-minute periods hold 4, 6, 4, 6 errors, so AWS fires the alarm when the second period ends (10
    minutes into the bake) and not before; a 5-minute window sliding from the bake's start saw 6 after
    6 minutes. CloudWatch alarm evaluation:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation"""
    # R-REL-4
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    from localcloud.cloudwatch import alarms as local_alarms
    from provisioning.resources.alarms import ALARMS, MISSING_DATA, OPERATOR, PERIOD

    errors = next(a for a in ALARMS if a.short == "lambda-errors")
    name = alarm_name(env.spec.names, "lambda-errors")
    _c("cloudwatch").put_metric_alarm(
        AlarmName=name, Namespace=errors.namespace, MetricName=errors.metric,
        Dimensions=[{"Name": "FunctionName", "Value": env.function}], Statistic=errors.statistic,
        Period=PERIOD, EvaluationPeriods=errors.evaluation_periods, DatapointsToAlarm=errors.datapoints,
        Threshold=5.0, ComparisonOperator=OPERATOR, TreatMissingData=MISSING_DATA,
    )  # fmt: skip
    start = (T0 // 600) * 600 - 1800  # a 10-minute boundary well in the past: CloudWatch keeps it
    for minute in range(20):
        _c("cloudwatch").put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": env.function}],
                    "Values": [1.0, 1.0] if minute % 2 else [0.0],
                    "Timestamp": dt.datetime.fromtimestamp(start + minute * 60 + 20, tz=dt.UTC),
                }
            ],
        )
    backend = cloudwatch_backends[DEFAULT_ACCOUNT_ID][REGION]

    def evaluate_alarms() -> None:  # CloudWatch's evaluation, once per simulated minute
        alarm = backend.alarms[name]
        local_alarms.apply(backend, alarm, local_alarms.evaluate(backend, alarm, clock.now))

    clock = Clock(now=start, hooks={i: evaluate_alarms for i in range(20)})
    state = _baking(env, 10, since=start)
    result = release(
        env.spec, env.clients, env.codes[1], Strategy("canary", 10, 900), state,
        poll_s=60, max_version_errors=1_000_000, clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert result.outcome == ROLLED_BACK, (result.error, result.reason)
    assert clock.now - start == 600  # the end of the second 5-minute period, the first with 6
    when = dt.datetime.fromtimestamp(start + 300, tz=dt.UTC).strftime("%d/%m/%y %H:%M:%S")
    assert result.reason == (
        f"alarm {name} with 10% of traffic on version 2: expected OK or INSUFFICIENT_DATA, found "
        f"ALARM: Threshold Crossed: 1 out of the last 1 datapoints [6.0 ({when})] was greater than or "
        "equal to the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )  # the long form: the provisioned alarm sets DatapointsToAlarm
    assert env.alias() == ("1", {})


@pytest.mark.heavy
def test_errors_of_the_new_version_roll_back(env: Env) -> None:
    # R-REL-4: the new version's own metric (ExecutedVersion behind the alias)
    clock = Clock()
    state = _baking(env, 20, since=T0)
    fn = env.function
    _c("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "Errors",
                "Dimensions": [
                    {"Name": "FunctionName", "Value": fn},
                    {"Name": "Resource", "Value": f"{fn}:{LIVE_ALIAS}"},
                    {"Name": "ExecutedVersion", "Value": "2"},
                ],
                "Value": 2,
                # on the release's clock, which started at import: real "now" may lie past its window
                "Timestamp": dt.datetime.fromtimestamp(T0 + 1, tz=dt.UTC),
            }
        ],
    )
    result = release(
        env.spec,
        env.clients,
        env.codes[1],
        Strategy("canary", 20, 300),
        state,
        max_version_errors=2,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome == ROLLED_BACK
    assert result.reason == (
        "errors of version 2 with 20% of traffic: "
        "expected fewer than 2 Errors (ExecutedVersion 2), found 2 Errors"
    )
    assert env.alias() == ("1", {})


def test_an_error_mid_bake_never_leaves_traffic_split(env: Env) -> None:
    # R-REL-4, R-REL-5
    seen = {"n": 0}

    def fault(**_: Any) -> None:
        seen["n"] += 1
        if seen["n"] == 3:
            raise ConnectionError("injected: the network went away mid-bake")

    clients = AwsClients(
        AwsTarget(region=REGION), hooks=(("before-call.cloudwatch.GetMetricStatistics", fault, True),)
    )
    clock = Clock()
    state = _baking(env, 10, since=T0)
    result = release(
        env.spec,
        clients,
        env.codes[1],
        Strategy("canary", 10, 300),
        state,
        poll_s=10,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome == "failed" and not result.ok
    assert result.error == "ConnectionError: injected: the network went away mid-bake"
    assert env.alias() == ("1", {})
    assert [t["percent"] for t in result.traffic] == [10, 0]
    assert result.notified and env.notifications()[0]["event"] == "release failed"


def test_an_interrupt_mid_bake_restores_traffic_and_goes_on(env: Env) -> None:
    # R-REL-5
    clock = Clock(hooks={0: lambda: (_ for _ in ()).throw(KeyboardInterrupt())})
    state = _baking(env, 10, since=T0)
    events: list[ReleaseEvent] = []
    with pytest.raises(KeyboardInterrupt):
        release(
            env.spec,
            env.clients,
            env.codes[1],
            Strategy("canary", 10, 300),
            state,
            on_event=events.append,
            clock=clock,
            sleep=clock.sleep,
        )
    assert env.alias() == ("1", {})
    assert events[-1].state.percent == 0 and events[-1].state.phase in ("failed", "rolled_back")


# --- rollback and retention ----------------------------------------------------------------------
@pytest.mark.heavy
def test_rollback_on_demand_to_the_previous_or_an_earlier_version(env: Env) -> None:
    # R-REL-6, R-REL-2
    for n in (2, 3):
        env.publish(_artifact(n))
    env.set_alias("3")
    result = rollback(env.spec, env.clients)
    assert (result.outcome, result.from_version, result.to_version) == ("rolled_back", "3", "2") and result.ok
    assert env.alias() == ("2", {})
    result = rollback(env.spec, env.clients, to_version="1")
    assert env.alias() == ("1", {}) and result.calls.mutating == 1
    _no_api_gateway(result.calls)
    with pytest.raises(ReleaseRefused, match=r"no version of envport-dev1-api before 1 is still published"):
        rollback(env.spec, env.clients)
    before = env.clients.recorder.snapshot()
    with pytest.raises(
        ReleaseRefused, match="version 9 of envport-dev1-api does not exist; published versions: 1, 2, 3"
    ):
        rollback(env.spec, env.clients, to_version="9")
    assert env.clients.recorder.since(before).mutating == 0
    same = rollback(env.spec, env.clients, to_version="1")
    assert same.outcome == "unchanged" and same.calls.mutating == 0


@pytest.mark.heavy
def test_rollback_of_a_split_alias_returns_to_its_primary(env: Env) -> None:
    # R-REL-6
    to = env.publish(_artifact(2))
    env.set_alias("1", {to: 0.3})
    result = rollback(env.spec, env.clients)
    assert (result.from_version, result.to_version) == ("1", "1")
    assert env.alias() == ("1", {})


@pytest.mark.heavy
def test_a_promotion_deletes_old_versions_but_never_one_an_alias_points_at(env: Env) -> None:
    # R-REL-6
    for n in range(2, 7):
        env.publish(_artifact(n))  # versions 2..6
    _c("lambda").create_alias(FunctionName=env.function, Name="pinned", FunctionVersion="2")
    env.set_alias("6")
    code = _artifact(7)
    to = env.publish(code)
    env.set_alias("6", {to: 0.1})
    clock = Clock()
    state = ReleaseState(code.sha256_hex, "6", to, 10, SHIFTED, T0, T0, True, 10, [{"at": T0, "percent": 10}])
    result = release(
        env.spec,
        env.clients,
        code,
        Strategy("canary", 10, 0),
        state,
        retain=3,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.outcome == PROMOTED, result.error
    assert result.deleted_versions == ["1", "3", "4"]
    assert env.versions() == ["2", "5", "6", "7"]
    assert env.alias() == ("7", {})


@pytest.mark.heavy
def test_a_rollback_never_goes_to_a_version_that_reads_a_table_a_restore_replaced(env: Env) -> None:
    """After a restore the environment serves from a new physical table; the versions published
    before it read the replaced one, so a rollback to one would serve the replaced table's items."""
    # R-REL-6, R-REC-1
    lam = _c("lambda")
    old_table, new_table = env.spec.names.table, f"{env.spec.names.table}-r20261207t120000"
    lam.update_function_configuration(
        FunctionName=env.function, Environment={"Variables": {"TABLE_NAME": old_table}}
    )
    env.publish(_artifact(2))  # version 2: before the restore
    lam.update_function_configuration(
        FunctionName=env.function, Environment={"Variables": {"TABLE_NAME": new_table}}
    )
    env.publish(_artifact(3))  # version 3: the restore's cut-over
    env.publish(_artifact(4))  # version 4: a release since
    env.set_alias("4")
    restored = dataclasses.replace(env.spec, table_name=new_table)
    assert restored.names.table == new_table
    before = env.clients.recorder.snapshot()
    with pytest.raises(ReleaseRefused, match=rf"version 2 of {env.function} reads table {old_table}"):
        rollback(restored, env.clients, to_version="2")
    result = rollback(restored, env.clients)  # the previous version reads the current table
    assert result.to_version == "3" and env.alias() == ("3", {})
    lam.delete_function(FunctionName=env.function, Qualifier="1")  # it names no table at all
    with pytest.raises(ReleaseRefused, match=r"every version .* before 3 reads a table a restore replaced"):
        rollback(restored, env.clients)
    assert env.clients.recorder.since(before).mutating == 1
    # before any restore, the same versions are targets
    assert rollback(env.spec, env.clients, to_version="2").to_version == "2"
