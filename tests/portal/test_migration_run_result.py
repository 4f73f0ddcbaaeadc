"""Migration 0008: a run's result beside its status, for the runs recorded before it (issue 23)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.portal.conftest import migrate_to

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("back_to_the_latest_migrations"),
]

BEFORE = [("portal", "0007_logs_check_request_id")]
AFTER = [("portal", "0008_run_result")]
STEP = {"started_offset_s": 0.0, "seconds": 0.1}


@pytest.mark.heavy
def test_old_runs_get_the_new_vocabulary() -> None:
    """Issue 23: one vocabulary. A rolled-back release keeps its failed status and gets result
    rolled_back; a drift check that failed only because it found drift succeeded with result
    drift_found; one whose step failed stays failed."""
    apps = migrate_to(BEFORE)
    Environment, Deployment = apps.get_model("portal", "Environment"), apps.get_model("portal", "Deployment")
    Step, Finding = apps.get_model("portal", "Step"), apps.get_model("portal", "DriftFinding")
    env = Environment.objects.create(suffix="mig1", stage="dev")

    def run(kind: str, status: str, **fields: Any) -> int:
        return int(Deployment.objects.create(environment=env, kind=kind, status=status, **fields).pk)

    promoted = run("release", "succeeded", outcome="promoted")
    rolled = run("release", "failed", outcome="rolled_back", error="alarm")
    rollback = run("rollback", "succeeded", outcome="rolled_back")
    clean = run("drift", "succeeded")
    found = run("drift", "failed", error="drift: 1 difference(s) in function; a provision run repairs it")
    broken = run("drift", "failed", error="drift: 1 difference(s) in table; a provision run repairs it")
    for pk in (found, broken):
        Finding.objects.create(deployment_id=pk, environment=env, resource="function", field="MemorySize")
        Step.objects.create(
            deployment_id=pk, position=1, resource="function", kind="f", status="succeeded", **STEP
        )
    Step.objects.create(deployment_id=broken, position=2, resource="table", kind="t", status="failed", **STEP)

    apps = migrate_to(AFTER)
    Deployment = apps.get_model("portal", "Deployment")
    got = {d.pk: (d.status, d.result, d.error) for d in Deployment.objects.all()}
    assert got[promoted] == ("succeeded", "promoted", "")
    assert got[rolled] == ("failed", "rolled_back", "alarm")
    assert got[rollback] == ("succeeded", "rolled_back", "")
    assert got[clean] == ("succeeded", "clean", "")
    assert got[found] == ("succeeded", "drift_found", "")
    assert got[broken][:2] == ("failed", "")
