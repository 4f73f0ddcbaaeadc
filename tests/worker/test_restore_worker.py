"""A restore through a real Celery worker, killed with `kill -9` mid-cut-over (R-REC-1, issue 20).

The restore records its state as it goes (`RestoreState`, in the run's record); beat's reaper
re-queues the run whose worker died, a second worker resumes it from that state: no second
restore of the table, one new table, the alias on the version that reads it, the items of the
backup served, and the run ends once.
"""

from __future__ import annotations

import time

import pytest
from test_real_worker import REAPER_TASK, every_second, make_env
from worker_procs import Portal, finish, wait_for

from portal.models import AuditEvent, Deployment, Environment
from provisioning import restore as engine

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FUNCTION = "envport-wkrst-api"


def test_kill_9_mid_cutover_the_restore_resumes_once_with_one_live_table(portal: Portal) -> None:
    # R-REC-1
    import signal

    make_env("wkrst")
    first = portal.worker("worker1")
    code, out, err = finish(portal.cli("provision", "provision", "wkrst", "--no-verify"), timeout=120)
    assert code == 0, out + err
    dynamodb = portal.cloud.client("dynamodb")
    table = Environment.objects.get(suffix="wkrst").spec().names.table
    for n in range(5):
        dynamodb.put_item(TableName=table, Item={"id": {"S": f"kept-{n}"}, "name": {"S": f"item {n}"}})
    code, out, err = finish(portal.cli("backup", "backup", "wkrst"), timeout=120)
    assert code == 0, out + err
    for n in range(5):  # what the restore undoes: every item gone, one written that was never there
        dynamodb.delete_item(TableName=table, Key={"id": {"S": f"kept-{n}"}})
    dynamodb.put_item(TableName=table, Item={"id": {"S": "corrupt"}, "name": {"S": "bad"}})
    follower = portal.cli("restore", "restore", "wkrst", "--backup", "latest", "--yes")

    def cutting_over() -> Deployment | None:
        dep = Deployment.objects.filter(environment__suffix="wkrst", kind="restore").first()
        state = dep.release_state if dep is not None else {}
        # the version reading the new table is published and its journey runs: the cut-over's middle
        return dep if state.get("phase") == engine.PUBLISHED else None

    dep = wait_for("the restore's cut-over", cutting_over, timeout=180, interval=0.05)
    first.kill_group(signal.SIGKILL)
    first.popen.wait(timeout=10)
    killed_at = time.monotonic()
    dep.refresh_from_db()
    assert dep.status == "running" and dep.release_state["phase"] == engine.PUBLISHED
    new_table = dep.release_state["new_table"]

    every_second(REAPER_TASK)
    portal.worker("worker2")
    portal.beat()

    def finished() -> Deployment | None:
        dep.refresh_from_db()
        return dep if dep.status not in ("queued", "running") else None

    wait_for("the restore to resume and end", finished, timeout=180, interval=0.2)
    assert (dep.status, dep.result, dep.attempts) == ("succeeded", "cut_over", 2), dep.error
    assert AuditEvent.objects.filter(deployment=dep, action="deployment.requeued").exists()
    # the resumed run restored nothing again and made no second table
    assert dep.calls_by_operation.get("dynamodb.RestoreTableFromBackup", 0) == 0
    own = sorted(t for t in dynamodb.list_tables()["TableNames"] if t.startswith("envport-wkrst-"))
    assert own == sorted([table, new_table]), own
    env = Environment.objects.get(suffix="wkrst")
    assert env.table_name == new_table
    # one live table: the alias serves a version that reads the new one, which holds the backup's items
    lam = portal.cloud.client("lambda")
    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    serving = lam.get_function_configuration(FunctionName=FUNCTION, Qualifier=alias["FunctionVersion"])
    assert serving["Environment"]["Variables"]["TABLE_NAME"] == new_table
    ids = sorted(i["id"]["S"] for i in dynamodb.scan(TableName=new_table)["Items"])
    assert ids == [f"kept-{n}" for n in range(5)]
    code, out, err = finish(follower, timeout=120)
    assert code == 0, out + err
    print(f"\nrestore resumed and cut over {time.monotonic() - killed_at:.1f} s after the kill")
