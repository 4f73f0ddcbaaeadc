"""Releases end to end through the CLI (--inline) on the local cloud, in process (R-REL-1..6).

A good artifact ships by canary while the gateway splits traffic between the two versions; the
same artifact again changes nothing; a bad one is rolled back before any traffic moves and
`$LATEST` follows the alias back, so drift stays clean; promotion ships the same SHA-256 to
another environment; a rollback on demand returns the first version and its code. No release or
rollback calls API Gateway.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from portal.models import Deployment, Environment
from provisioning import http
from provisioning.artifacts import DEFAULT_ROOT, build_artifact

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

BROKEN_POST = """

_serve = lambda_handler


def lambda_handler(event, context):  # noqa: F811  (the release under test replaces it)
    if event.get("httpMethod") == "POST":
        raise RuntimeError("broken on purpose")
    return _serve(event, context)
"""


def _bundle(tmp_path: Path, name: str, extra: str) -> Path:
    """lambda_bundle/ copied under its own name, with `extra` appended to its handler module."""
    root = tmp_path / name / "lambda_bundle"
    shutil.copytree(DEFAULT_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    handler = root / "handler.py"
    handler.write_text(handler.read_text() + extra)
    return root


def _no_api_gateway(doc: dict) -> None:
    calls = doc["calls"]["by_operation"]
    assert not [op for op in calls if op.lower().startswith("apigateway")], calls


def _gateway_versions(cloud, since: int) -> list[str]:
    answer = http.request("GET", f"{cloud.endpoint_url}/_localcloud/invocations?limit=1000")
    records = json.loads(answer.body)["invocations"][since:]
    return [r["executed_version"] for r in records if r.get("alias") == "live"]


def _invocation_count(cloud) -> int:
    answer = http.request("GET", f"{cloud.endpoint_url}/_localcloud/invocations?limit=1000")
    return len(json.loads(answer.body)["invocations"])


class Traffic:
    """Clients of the API while a release runs: GET /items until stopped."""

    def __init__(self, cloud, env: Environment) -> None:
        apigw = cloud.client("apigateway")
        self.key = apigw.get_api_key(apiKey=env.outputs["api_key_id"], includeValue=True)["value"]
        self.url = env.outputs["api_endpoint"] + "/items?limit=1"
        self.stop = threading.Event()
        self.statuses: list[int | None] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.15):  # well under the dev throttle (100 per second, burst 5)
            self.statuses.append(http.request("GET", self.url, headers={"x-api-key": self.key}).status)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def test_release_canary_promote_rollback_and_promotion(cli, make_env, local_target, tmp_path):
    # R-REL-1, R-REL-2, R-REL-3, R-REL-4, R-REL-6
    make_env("rel1", alarm_emails=["ops@example.com"])
    assert cli("provision", "rel1", "--no-verify", "--inline").code == 0
    env = Environment.objects.get(suffix="rel1")
    good = _bundle(tmp_path, "good", "\n# release two\n")
    start = _invocation_count(local_target)

    with Traffic(local_target, env) as traffic:
        shipped = cli(
            "release", "rel1", "--bundle", str(good), "--strategy", "canary",
            "--percent", "50", "--bake", "4s", "--inline", "--json",
        )  # fmt: skip
    doc = shipped.json()
    assert shipped.code == 0, shipped.err
    assert doc["kind"] == "release" and (doc["status"], doc["result"]) == ("succeeded", "promoted")
    assert doc["artifact"]["sha256"] == build_artifact(good).sha256
    assert (doc["from_version"], doc["to_version"]) == ("1", "2")
    assert [t["percent"] for t in doc["traffic"]] == [50, 100]
    assert all(c["passed"] for c in doc["checks"])
    assert any(c["name"].startswith("version 2:") for c in doc["checks"])  # verified by version
    _no_api_gateway(doc)
    assert set(traffic.statuses) == {200}, traffic.statuses  # no client saw an error
    served = _gateway_versions(local_target, start)
    assert {"1", "2"} <= set(served)  # during the bake both versions served through the alias
    env.refresh_from_db()
    assert env.artifact_sha256 == doc["artifact"]["sha256"] and env.outputs["serving_version"] == "2"
    assert cli("releases", "rel1", "--json").json()["serving"]["version"] == "2"

    again = cli("release", "rel1", "--artifact", env.artifact_sha256[:12], "--inline", "--json")
    assert again.code == 0 and again.json()["result"] == "unchanged"
    assert again.json()["calls"]["mutating"] == 0  # R-REL-6

    bad = cli("release", "rel1", "--bundle", str(_bundle(tmp_path, "bad", BROKEN_POST)), "--inline", "--json")
    assert bad.code == 1
    bad_doc = bad.json()
    assert (bad_doc["status"], bad_doc["result"]) == ("failed", "rolled_back")
    assert "create item" in bad_doc["rollback_reason"]
    assert bad_doc["traffic"] == []  # rolled back before any traffic moved
    _no_api_gateway(bad_doc)
    env.refresh_from_db()
    assert env.artifact_sha256 == doc["artifact"]["sha256"]  # still the good one
    assert cli("drift", "rel1", "--inline").code == 0  # $LATEST went back with the alias

    make_env("rel2", "staging")
    assert cli("provision", "rel2", "--no-verify", "--inline").code == 0
    promoted = cli("release", "rel2", "--from", "rel1", "--strategy", "all-at-once", "--inline", "--json")
    assert promoted.code == 0 and promoted.json()["result"] == "promoted"
    assert Environment.objects.get(suffix="rel2").artifact_sha256 == env.artifact_sha256  # the same bytes

    back = cli("rollback", "rel1", "--to", "1", "--inline", "--json")
    assert back.code == 0, back.err
    assert back.json()["to_version"] == "1"
    _no_api_gateway(back.json())
    rolled = Environment.objects.get(suffix="rel1")
    assert rolled.artifact_sha256 == "" and rolled.outputs["serving_version"] == "1"  # lambda_bundle/
    assert _referenced(local_target, env.artifact_sha256) == "true"  # rel2 still serves it
    assert cli("rollback", "rel2", "--inline").code == 0  # now nothing serves it: S3 may expire it
    assert _referenced(local_target, env.artifact_sha256) == "false"
    assert cli("drift", "rel1", "--inline").code == 0

    history = cli("releases", "rel1", "--json").json()["releases"]  # newest first
    assert [h["result"] for h in history] == ["rolled_back", "rolled_back", "unchanged", "promoted"]
    assert Deployment.objects.filter(environment=env, kind="release").count() == 3


SCALE = 0.05  # the local cloud's alarm time scale here: 300 s periods last 15 s, evaluated every 3 s

FAILS_UNDER_LOAD = """

_serve = lambda_handler
_calls = 0


def lambda_handler(event, context):  # noqa: F811  (the release under test replaces it)
    global _calls
    _calls += 1
    if _calls > 30 and _calls % 3 == 0:  # passes the journey, then one request in three fails
        raise RuntimeError("fails under load")
    return _serve(event, context)
"""


def test_a_version_that_fails_under_load_is_rolled_back_by_its_alarm(
    cli, make_env, local_target, tmp_path, settings
):
    """The Errors alarm goes to ALARM through the local cloud's real evaluation while clients send
    traffic at a 50% canary; the release rolls back within an evaluation period and a poll, and
    the alarm topic is notified. Periods are scaled (LOCALCLOUD_ALARM_TIME_SCALE's setting:
    300 s becomes 15 s), never changed in what the engine provisions."""
    # R-REL-4
    settings.ENVPORT_RELEASE_POLL_SECONDS = 0.5
    make_env("load1", alarm_emails=["ops@example.com"], overrides={"alarm_lambda_errors": 2})
    assert cli("provision", "load1", "--no-verify", "--inline").code == 0
    env = Environment.objects.get(suffix="load1")
    flaky = _bundle(tmp_path, "flaky", FAILS_UNDER_LOAD)
    topic_queue = (local_target, _subscribed_queue(local_target, env))
    local_target.clear_notifications()
    local_target.alarm_time_scale = SCALE
    try:
        with Traffic(local_target, env):
            result = cli(
                "release", "load1", "--bundle", str(flaky), "--strategy", "canary",
                "--percent", "50", "--bake", "5m", "--inline", "--json",
            )  # fmt: skip
        # The same errors put the environment's Errors alarm in ALARM through the local cloud's
        # evaluation (every 3 s at this scale, on a 15 s period) and it notifies the alarm topic.
        # The wait ends when it fires; its bound leaves room for a machine busy with other tests.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not _fired(local_target, "envport-load1-lambda-errors"):
            time.sleep(0.2)
    finally:
        local_target.alarm_time_scale = 1.0
    doc = result.json()
    assert result.code == 1 and (doc["status"], doc["result"]) == ("failed", "rolled_back"), doc
    assert doc["traffic"][0]["percent"] == 50 and doc["traffic"][-1]["percent"] == 0
    # within an evaluation period (15 s) and a poll (0.5 s), plus the errors' own arrival
    assert doc["traffic"][-1]["at_s"] - doc["traffic"][0]["at_s"] < 60, doc["traffic"]
    # whichever sees it first: the environment's Errors alarm, or the new version's own Errors metric
    reason = doc["rollback_reason"]
    assert "alarm envport-load1-lambda-errors" in reason or "Errors (ExecutedVersion 2)" in reason, reason
    released = [json.loads(m["Message"]) for m in _messages(topic_queue)]
    assert [(m["event"], m["to_version"]) for m in released] == [("release rolled_back", "2")]
    env.refresh_from_db()
    assert env.artifact_sha256 == ""  # still lambda_bundle/: the flaky code never took over
    assert _fired(local_target, "envport-load1-lambda-errors"), local_target.notifications()


def _referenced(cloud, sha256: str) -> str:
    """The artifact object's `envport:referenced` tag, which the bucket's lifecycle reads (R-REL-1)."""
    s3 = cloud.client("s3")
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    bucket = next(name for name in buckets if name.startswith("envport-artifacts-"))
    tags = s3.get_object_tagging(Bucket=bucket, Key=f"artifacts/{sha256}.zip")["TagSet"]
    return {t["Key"]: t["Value"] for t in tags}["envport:referenced"]


def _fired(cloud, alarm: str) -> bool:
    return any(n["alarm_name"] == alarm and n["new_state"] == "ALARM" for n in cloud.notifications())


def _subscribed_queue(cloud, env: Environment) -> str:
    sqs, sns = cloud.client("sqs"), cloud.client("sns")
    url = sqs.create_queue(QueueName=f"{env.suffix}-alarm-topic-reader")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = next(
        t["TopicArn"]
        for t in sns.list_topics()["Topics"]
        if t["TopicArn"].endswith(f":envport-{env.suffix}-alarms")
    )
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"})
    return url


def _messages(reader: tuple[object, str]) -> list[dict]:
    cloud, url = reader
    got = cloud.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = [json.loads(m["Body"]) for m in got.get("Messages", [])]
    return [b for b in bodies if b.get("Subject", "").startswith("envport: release")]
