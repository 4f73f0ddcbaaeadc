"""A release through a real Celery worker, killed with `kill -9` mid-bake (R-REL-5).

The release records its traffic state as it goes; beat's reaper re-queues the run whose worker
died, a second worker resumes it from that state (no second publish, no second pre-traffic
journey, the rest of the bake only) and it ends once, promoted, with the alias at 100%.
"""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import pytest
from test_real_worker import REAPER_TASK, every_second, make_env
from worker_procs import Portal, finish, wait_for

from portal.models import AuditEvent, Deployment
from provisioning.artifacts import DEFAULT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_kill_9_mid_bake_the_release_resumes_from_its_traffic_state(portal: Portal, tmp_path: Path) -> None:
    # R-REL-5
    make_env("wkrel")
    first = portal.worker("worker1")
    code, out, err = finish(portal.cli("provision", "provision", "wkrel", "--no-verify"), timeout=120)
    assert code == 0, out + err
    bundle = tmp_path / "v2" / "lambda_bundle"
    shutil.copytree(DEFAULT_ROOT, bundle, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "handler.py").write_text((bundle / "handler.py").read_text() + "\n# release two\n")
    args = ("release", "wkrel", "--bundle", str(bundle), "--strategy", "canary", "--percent", "50")
    follower = portal.cli("release", *args, "--bake", "15s")

    def baking() -> Deployment | None:
        dep = Deployment.objects.filter(environment__suffix="wkrel", kind="release").first()
        state = dep.release_state if dep is not None else {}
        return dep if state.get("percent") == 50 and state.get("bake_started_at") else None

    dep = wait_for("the canary to bake at 50%", baking, timeout=120, interval=0.1)
    first.kill_group(signal.SIGKILL)
    first.popen.wait(timeout=10)
    killed_at = time.monotonic()
    dep.refresh_from_db()
    assert dep.status == "running" and dep.release_state["to_version"] == "2"

    every_second(REAPER_TASK)
    portal.worker("worker2")
    portal.beat()

    def finished() -> Deployment | None:
        dep.refresh_from_db()
        return dep if dep.status not in ("queued", "running") else None

    wait_for("the release to resume and end", finished, timeout=120, interval=0.2)
    assert (dep.status, dep.outcome, dep.attempts) == ("succeeded", "promoted", 2), dep.error
    assert [t["percent"] for t in dep.release_state["traffic"]] == [50, 100]  # not started over
    assert dep.calls_by_operation.get("lambda.PublishVersion", 0) == 0  # the resumed run published nothing
    assert AuditEvent.objects.filter(deployment=dep, action="deployment.requeued").exists()
    lam = portal.cloud.client("lambda")
    versions = [
        v["Version"] for v in lam.list_versions_by_function(FunctionName="envport-wkrel-api")["Versions"]
    ]
    assert versions == ["$LATEST", "1", "2"]
    alias = lam.get_alias(FunctionName="envport-wkrel-api", Name="live")
    assert alias["FunctionVersion"] == "2" and not alias.get("RoutingConfig", {}).get(
        "AdditionalVersionWeights"
    )
    code, out, err = finish(follower, timeout=60)
    assert code == 0, out + err
    print(f"\nrelease resumed and promoted {time.monotonic() - killed_at:.1f} s after the kill")
