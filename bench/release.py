"""Benchmark releases on the local cloud: time to first traffic, time to a rollback decision, calls.

Starts a local cloud, provisions one environment with the engine, then measures with the
framework-free release engine (`provisioning.release`), the median over N runs of:
- the time from calling `release()` to the event that gives the new version traffic, for an
  `all-at-once` release and for a 10% `canary` (each a new artifact: `lambda_bundle/` with a line
  appended to its handler);
- with a client thread sending requests through the gateway, a 50% canary of an artifact that
  passes the journey and then fails one request in three: the time from the first failing
  invocation (the local cloud's invocation records) to the event that reports the release
  `rolled_back`, which watcher decided, and the poll interval that bounds it;
- the AWS calls of a release of a new artifact, of a release of the artifact that already serves
  (0 mutating), and of a `rollback()`; none of them may call API Gateway.
Prints one JSON object as its last line.

    python bench/release.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The local cloud takes any credentials; never pick up a developer's real ones.
for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
    os.environ[key] = value
os.environ.pop("AWS_PROFILE", None)

from localcloud import LocalCloud  # noqa: E402
from provisioning import http  # noqa: E402
from provisioning.artifacts import (  # noqa: E402
    DEFAULT_ROOT,
    artifact_from_directory,
    artifact_location,
    default_artifact,
    upload_artifact,
)
from provisioning.aws import AwsClients, AwsTarget, CallCounts  # noqa: E402
from provisioning.engine import Engine  # noqa: E402
from provisioning.release import (  # noqa: E402
    CodeRef,
    ReleaseEvent,
    ReleaseResult,
    Strategy,
    align_latest,
    release,
    rollback,
)
from provisioning.resources.alarms import ALARMS, alarm_name  # noqa: E402
from provisioning.spec import EnvironmentSpec, build_spec  # noqa: E402

POLL_S = 0.5  # how often a release looks at alarms and the version's Errors while traffic is split
ALARM_TIME_SCALE = 0.01  # the local cloud's: a 300 s alarm period lasts 3 s, evaluated every 0.6 s
ERROR_THRESHOLD = 2  # the Errors alarm's threshold, and so how many Errors of the new version fail it
# The version that "fails under load", as tests/portal/test_release_e2e.py builds it: each worker
# counts its requests, passes the journey, then raises on one request in three.
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


class Bench:
    """One provisioned environment and the code it serves, with helpers to ship new artifacts."""

    def __init__(self, cloud: LocalCloud, spec: EnvironmentSpec, target: AwsTarget, work: Path) -> None:
        self.cloud, self.spec, self.work = cloud, spec, work
        self.clients = AwsClients(target)
        bundle = default_artifact()  # what the provision shipped, in the artifact bucket
        location = artifact_location(self.clients, bundle.sha256)
        self.serving = CodeRef(location.bucket, location.key, bundle.sha256, bundle.handler)
        self.made = 0
        self.upload_calls: list[CallCounts] = []

    def artifact(self, extra: str) -> CodeRef:
        """lambda_bundle/ copied under its own name with `extra` (and a marker) appended to its
        handler module: new code, so a new SHA-256 and a new version; built and uploaded."""
        self.made += 1
        root = self.work / f"a{self.made}" / "lambda_bundle"
        shutil.copytree(DEFAULT_ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
        handler = root / "handler.py"
        handler.write_text(handler.read_text() + extra + f"\n# bench release {self.made}\n")
        built = artifact_from_directory(root)
        before = self.clients.recorder.snapshot()
        location = upload_artifact(self.clients, built)
        self.upload_calls.append(self.clients.recorder.since(before))
        return CodeRef(location.bucket, location.key, built.sha256, built.handler)

    def timed_release(
        self, code: CodeRef, strategy: Strategy, clock: Any = time.monotonic
    ) -> tuple[ReleaseResult, dict[str, float]]:
        """Release `code`; the times (from the call, by `clock`) of the first event of each phase,
        of the first with traffic on the new version and of the first failed check."""
        marks: dict[str, float] = {}

        def on_event(event: ReleaseEvent) -> None:
            now = clock()
            marks.setdefault(event.state.phase, now)
            if event.state.percent > 0:
                marks.setdefault("first_traffic", now)
            if any(not c.passed for c in event.checks):
                marks.setdefault("failed_check", now)

        started = clock()
        result = release(
            self.spec, self.clients, code, strategy, on_event=on_event, poll_s=POLL_S, restore=self.serving
        )
        marks["called"] = started
        if result.outcome == "promoted":
            self.serving = code
        return result, marks

    def alarms_in_alarm(self) -> list[str]:
        names = [alarm_name(self.spec.names, a.short) for a in ALARMS]
        found = self.cloud.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
        return [a["AlarmName"] for a in found if a["StateValue"] == "ALARM"]

    def wait_alarms_quiet(self, timeout_s: float = 60.0) -> None:
        """The last run's errors put alarms in ALARM: a release would roll back before traffic."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.cloud.evaluate_alarms()
            firing = self.alarms_in_alarm()
            if not firing:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"alarms still in ALARM after {timeout_s:.0f} s: {firing}")
            time.sleep(0.3)


class Traffic:
    """A client of the API while a release runs: GET /items through the gateway until stopped."""

    def __init__(self, url: str, key: str, pause_s: float = 0.02) -> None:
        self.url, self.headers, self.pause_s = url, {"x-api-key": key}, pause_s
        self.stop = threading.Event()
        self.statuses: Counter[int | str] = Counter()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(self.pause_s):
            try:
                self.statuses[http.request("GET", self.url, headers=self.headers).status or "none"] += 1
            except Exception as exc:  # counted, never fatal: the release is what is measured
                self.statuses[type(exc).__name__] += 1

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def no_api_gateway(*calls: CallCounts) -> int:
    found = [op for c in calls for op in c.by_operation if op.lower().startswith("apigateway")]
    assert not found, f"a release or rollback called API Gateway: {found}"
    return 0


def calls_doc(calls: CallCounts) -> dict[str, Any]:
    ops = dict(sorted(calls.by_operation.items()))
    return {"total": calls.total, "mutating": calls.mutating, "by_operation": ops}


def med(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def invocation_records(cloud: LocalCloud) -> list[dict[str, Any]]:
    answer = http.request("GET", f"{cloud.endpoint_url}/_localcloud/invocations?limit=1000")
    assert answer.status == 200, answer.status
    records: list[dict[str, Any]] = json.loads(answer.body)["invocations"]
    return records


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # Throttling out of the way (the load must reach the function), and the Errors alarm's
    # threshold low, as in the portal's load test.
    spec = build_spec(
        suffix="benchrel",
        stage="dev",
        overrides={
            "throttle_rate": 1000,
            "throttle_burst": 5000,
            "reserved_concurrency": 50,
            "alarm_lambda_errors": ERROR_THRESHOLD,
        },
    )
    with LocalCloud(port=0) as cloud, tempfile.TemporaryDirectory(prefix="bench-release-") as work:
        target = AwsTarget(
            region=cloud.region,
            endpoint_url=cloud.endpoint_url,
            execute_api_url_template=cloud.stage_url_template,
        )
        applied = Engine(spec, target).apply()
        assert applied.ok, applied.error
        outputs = applied.outputs
        key = cloud.client("apigateway").get_api_key(apiKey=outputs["api_key_id"], includeValue=True)["value"]
        url = outputs["api_endpoint"] + "/items?limit=1"
        bench = Bench(cloud, spec, target, Path(work))

        first_all: list[float] = []
        first_canary: list[float] = []
        phases_all: dict[str, list[float]] = {"published": [], "verified": []}
        release_calls: list[CallCounts] = []
        unchanged_calls: list[CallCounts] = []
        rollback_calls: list[CallCounts] = []
        align_calls: list[CallCounts] = []
        for _ in range(args.runs):
            result, marks = bench.timed_release(bench.artifact(""), Strategy("all-at-once"))
            assert result.outcome == "promoted", (result.reason, result.error)
            first_all.append(marks["first_traffic"] - marks["called"])
            for phase in phases_all:
                phases_all[phase].append(marks[phase] - marks["called"])
            release_calls.append(result.calls)
            previous = bench.serving

            result, marks = bench.timed_release(bench.artifact(""), Strategy("canary", 10, bake_s=1))
            assert result.outcome == "promoted", (result.reason, result.error)
            first_canary.append(marks["first_traffic"] - marks["called"])

            again, _ = bench.timed_release(bench.serving, Strategy("all-at-once"))
            assert again.outcome == "unchanged" and again.calls.mutating == 0, again.calls
            unchanged_calls.append(again.calls)

            back = rollback(spec, bench.clients)
            assert back.outcome == "rolled_back", (back.reason, back.error)
            rollback_calls.append(back.calls)
            before = bench.clients.recorder.snapshot()
            align_latest(spec, bench.clients, previous)  # what the portal's rollback does next
            align_calls.append(bench.clients.recorder.since(before))
            bench.serving = previous

        decisions: list[dict[str, Any]] = []
        cloud.alarm_time_scale = ALARM_TIME_SCALE
        try:
            for _ in range(args.runs):
                bench.wait_alarms_quiet()
                flaky = bench.artifact(FAILS_UNDER_LOAD)
                cloud.clear_invocations()
                with Traffic(url, key) as traffic:
                    result, marks = bench.timed_release(
                        flaky, Strategy("canary", 50, bake_s=120), clock=time.time
                    )
                assert result.outcome == "rolled_back", (result.outcome, result.reason, result.error)
                failing = sorted(
                    r["started_at"] + r["total_ms"] / 1000
                    for r in invocation_records(cloud)
                    if r["function_name"] == spec.names.function
                    and r["executed_version"] == result.to_version
                    and r["status"] != "ok"
                )
                assert failing, "the rollback came before any failing invocation"
                decided = marks["rolled_back"]
                decisions.append(
                    {
                        "decision_s": decided - failing[0],
                        "detected_s": marks.get("failed_check", decided) - failing[0],
                        "errors_before_decision": sum(1 for t in failing if t <= decided),
                        "first_error_after_release_s": failing[0] - marks["called"],
                        "reason": result.reason,
                        "statuses": dict(traffic.statuses),
                        "calls": result.calls,
                    }
                )
        finally:
            cloud.alarm_time_scale = 1.0

    no_api_gateway(*release_calls, *unchanged_calls, *rollback_calls, *(d["calls"] for d in decisions))
    statuses: Counter[str] = Counter()
    for d in decisions:
        statuses.update({str(k): v for k, v in d["statuses"].items()})
    assert "429" not in statuses, f"the load was throttled: {dict(statuses)}"
    out: dict[str, Any] = {
        "release_runs": args.runs,
        "to_first_traffic_s": {
            "all_at_once": med(first_all),
            "canary_10": med(first_canary),
            "all_at_once_published_s": med(phases_all["published"]),
            "all_at_once_verified_s": med(phases_all["verified"]),
        },
        "rollback_decision_s": {
            "p50": med([d["decision_s"] for d in decisions]),
            "max": round(max(d["decision_s"] for d in decisions), 3),
            "failed_check_p50": med([d["detected_s"] for d in decisions]),
            "errors_before_decision": [d["errors_before_decision"] for d in decisions],
            "first_error_after_release_s": med([d["first_error_after_release_s"] for d in decisions]),
            "decided_by": [d["reason"] for d in decisions],
            "poll_s": POLL_S,
            "error_threshold": ERROR_THRESHOLD,
            "alarm_time_scale": ALARM_TIME_SCALE,
            "gateway_statuses": dict(sorted(statuses.items())),
        },
        "calls": {
            "release": calls_doc(release_calls[0]),
            "release_totals": [c.total for c in release_calls],
            # what a later run called beyond the first (retention deletes versions past 5)
            "release_beyond_first": [
                dict((Counter(c.by_operation) - Counter(release_calls[0].by_operation)).items())
                for c in release_calls[1:]
            ],
            "release_unchanged": calls_doc(unchanged_calls[0]),
            "rollback": calls_doc(rollback_calls[0]),
            "align_latest_after_rollback": calls_doc(align_calls[0]),
            "upload_new_artifact": calls_doc(bench.upload_calls[0]),
        },
        "apigateway_calls": no_api_gateway(*release_calls, *unchanged_calls, *rollback_calls),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
