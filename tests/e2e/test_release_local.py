"""Releases into a local-cloud environment, where versions run their real code (R-REL-2..4).

The journey against a version invokes that version directly with API Gateway proxy events; these
tests prove it runs the real function, that a good artifact is promoted through a canary and that
an artifact whose POST raises is rolled back before any traffic moves, without one API Gateway call.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localcloud import LocalCloud
from provisioning.artifacts import default_artifact
from provisioning.aws import AwsClients, AwsTarget, CallCounts
from provisioning.bundle import deterministic_zip
from provisioning.engine import Engine
from provisioning.logs import Window, function_logs
from provisioning.names import LIVE_ALIAS
from provisioning.release import CodeRef, ReleaseEvent, ReleaseState, Strategy, release
from provisioning.spec import EnvironmentSpec, build_spec
from provisioning.verify import verify_version

pytestmark = pytest.mark.slow

BUCKET = "envport-release-e2e"
_BROKEN_POST = """

_envport_original_handler = lambda_handler


def lambda_handler(event, context):  # noqa: F811 - the test's broken release
    if isinstance(event, dict) and event.get("httpMethod") == "POST":
        raise RuntimeError("broken on purpose: POST raises")
    return _envport_original_handler(event, context)
"""


def _zip(marker: str, broken_post: bool = False) -> bytes:
    """The real lambda_bundle (with its vendored Powertools) plus a marker module (so each release
    is new code), optionally broken."""
    with zipfile.ZipFile(io.BytesIO(default_artifact().data)) as zf:
        sources = {name: zf.read(name) for name in zf.namelist()}
    sources["lambda_bundle/release_marker.py"] = f"MARKER = {marker!r}\n".encode()
    if broken_post:
        sources["lambda_bundle/handler.py"] += _BROKEN_POST.encode()
    return deterministic_zip(sources)


@dataclass
class Env:
    spec: EnvironmentSpec
    target: AwsTarget
    cloud: LocalCloud

    def upload(self, data: bytes) -> CodeRef:
        sha = hashlib.sha256(data).hexdigest()
        key = f"artifacts/{sha}.zip"
        self.cloud.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
        return CodeRef(BUCKET, key, sha)

    def alias(self) -> tuple[str, dict[str, float]]:
        got = self.cloud.client("lambda").get_alias(FunctionName=self.spec.names.function, Name=LIVE_ALIAS)
        return got["FunctionVersion"], (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}

    def publish(self, code: CodeRef) -> str:
        lam, name = self.cloud.client("lambda"), self.spec.names.function
        lam.update_function_code(FunctionName=name, S3Bucket=code.bucket, S3Key=code.key)
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        return str(lam.publish_version(FunctionName=name)["Version"])


@pytest.fixture(scope="module")
def env(local_cloud: LocalCloud, target: AwsTarget) -> Iterator[Env]:
    spec = build_spec(suffix="rel-e2e", stage="dev", alarm_emails=["ops@example.com"])
    result = Engine(spec, target).apply()
    assert result.ok, result.error
    lam = local_cloud.client("lambda")
    try:
        lam.get_alias(FunctionName=spec.names.function, Name=LIVE_ALIAS)
    except lam.exceptions.ResourceNotFoundException:  # an engine that does not make the alias yet
        version = lam.publish_version(FunctionName=spec.names.function)["Version"]
        lam.create_alias(FunctionName=spec.names.function, Name=LIVE_ALIAS, FunctionVersion=version)
    local_cloud.client("s3").create_bucket(Bucket=BUCKET)
    yield Env(spec, target, local_cloud)


def _no_api_gateway(calls: CallCounts) -> None:
    assert not [op for op in calls.by_operation if op.startswith("apigateway.")], calls.by_operation


def test_the_journey_runs_against_a_version_with_no_api_gateway(env: Env) -> None:
    # R-REL-4, R-REL-2
    good = env.publish(env.upload(_zip("journey-good")))
    broken = env.publish(env.upload(_zip("journey-broken", broken_post=True)))
    clients = AwsClients(env.target)
    report = verify_version(env.spec, clients, good)
    assert report.ok, [(c.name, c.expected, c.found) for c in report.failed]
    names = [c.name for c in report.checks]
    assert names == [
        f"version {good}: {n}"
        for n in (
            "create item",
            "read item",
            "update item",
            "read back update",
            "list items",
            "delete item",
            "read deleted item",
            "invalid json",
            "unknown id",
        )
    ]
    assert all(c.requirement == "R-REL-4" and c.latency_ms for c in report.checks)
    assert set(report.calls.by_operation) == {"lambda.Invoke"}
    invoked = {r["version"] for r in env.cloud.invocations() if r["function_name"] == env.spec.names.function}
    assert good in invoked
    bad = verify_version(env.spec, clients, broken)
    create = bad.check(f"version {broken}: create item")
    assert not create.passed and create.found.startswith("HTTP 502")
    assert "broken on purpose: POST raises" in create.found
    _no_api_gateway(bad.calls)
    # issue 19: each check records its invocation's request id, which finds the runtime's lines
    assert all(c.request_id for c in report.checks + bad.checks)
    assert create.request_id is not None
    deadline = time.monotonic() + 10
    while True:
        lines = function_logs(
            env.cloud.client("logs"), env.spec.names, Window.last(900), request_id=create.request_id
        ).rows
        if any(r.kind == "error" for r in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    unhandled = next(r for r in lines if r.kind == "error")
    assert "broken on purpose" in unhandled.message and unhandled.version == broken


def test_a_good_artifact_goes_through_a_canary_to_100_percent(env: Env) -> None:
    # R-REL-2, R-REL-3, R-REL-4
    code = env.upload(_zip("canary-good"))
    before, _ = env.alias()
    seen: dict[int, tuple[str, dict[str, float]]] = {}

    def on_event(event: ReleaseEvent) -> None:
        if event.state.phase == "shifted":
            seen[event.state.percent] = env.alias()

    result = release(
        env.spec,
        AwsClients(env.target),
        code,
        Strategy("canary", 25, bake_s=2),
        on_event=on_event,
        poll_s=0.5,
    )
    assert result.outcome == "promoted", (result.reason, result.error)
    to = result.to_version
    assert to is not None and result.from_version == before
    assert seen[25] == (before, {to: 0.25})
    assert env.alias() == (to, {})
    assert [t["percent"] for t in result.traffic] == [25, 100]
    journeys = [c for c in result.checks if c.name.startswith(f"version {to}: ")]
    assert len(journeys) == 18 and all(c.passed for c in journeys)  # before traffic, and at 25%
    assert result.calls.by_operation["lambda.PublishVersion"] == 1
    _no_api_gateway(result.calls)


def test_an_artifact_whose_post_raises_is_rolled_back_before_any_traffic(env: Env) -> None:
    # R-REL-4
    code = env.upload(_zip("canary-broken", broken_post=True))
    before = env.alias()
    result = release(env.spec, AwsClients(env.target), code, Strategy("canary", 10, bake_s=60))
    assert result.outcome == "rolled_back" and not result.ok
    assert result.reason is not None
    assert result.reason.startswith(
        f"check 'version {result.to_version}: create item' before any traffic moved: expected HTTP 201"
    )
    assert "found HTTP 502" in result.reason and "broken on purpose" in result.reason
    assert env.alias() == before  # untouched
    assert "lambda.UpdateAlias" not in result.calls.by_operation
    assert result.traffic == [] and result.notified
    _no_api_gateway(result.calls)


_WORKER = """
import json, sys
from provisioning.aws import AwsClients, AwsTarget
from provisioning.release import CodeRef, Strategy, release
from provisioning.spec import build_spec

endpoint, bucket, key, sha = sys.argv[1:5]
spec = build_spec(suffix="rel-e2e", stage="dev", alarm_emails=["ops@example.com"])
clients = AwsClients(AwsTarget(region="us-east-1", endpoint_url=endpoint, max_attempts=3))


def on_event(event):
    print(json.dumps(event.state.to_dict()), flush=True)


strategy = Strategy("canary", 20, bake_s=12)
release(spec, clients, CodeRef(bucket, key, sha), strategy, on_event=on_event, poll_s=1)
"""


def test_a_release_whose_worker_is_killed_mid_bake_resumes_and_ends_once(env: Env) -> None:
    # R-REL-5
    code = env.upload(_zip("resume-after-kill"))
    before, _ = env.alias()
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, env.cloud.endpoint_url, code.bucket, code.key, code.sha256_hex],
        cwd=str(Path(__file__).resolve().parents[2]),
        stdout=subprocess.PIPE,
        text=True,
    )
    last: dict[str, Any] = {}
    try:
        assert worker.stdout is not None
        for line in worker.stdout:
            last = json.loads(line)
            if last["phase"] == "shifted" and last["checked_percent"] == 20:
                os.kill(worker.pid, signal.SIGKILL)  # mid-bake, with 20% on the new version
                break
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
    assert last.get("percent") == 20, last
    to = last["to_version"]
    assert env.alias() == (before, {to: 0.2})  # the dead worker left traffic split
    killed_at = time.time()
    events: list[ReleaseEvent] = []
    clients = AwsClients(env.target)
    result = release(
        env.spec,
        clients,
        code,
        Strategy("canary", 20, bake_s=12),
        ReleaseState.from_dict(last),
        on_event=events.append,
        poll_s=1,
    )
    assert result.outcome == "promoted", (result.reason, result.error)
    assert env.alias() == (to, {})
    ops = result.calls.by_operation
    assert not {"lambda.PublishVersion", "lambda.UpdateFunctionCode", "lambda.Invoke"} & set(ops), ops
    assert ops["lambda.UpdateAlias"] == 1
    # the bake went on for the time it had left, not for another 12 s
    left = 12 - (killed_at - last["bake_started_at"])
    assert left - 1 < time.time() - killed_at < left + 4
    assert [e.state.phase for e in events].count("promoted") == 1
    assert [t["percent"] for t in result.traffic] == [20, 100]
