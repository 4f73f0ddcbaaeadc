"""A real Celery worker (and beat, and the CLI) against Redis, the local cloud and the test database.

- a provision through the worker succeeds, with its steps and checks stored, and no API key value
  anywhere (database, CLI output, worker log);
- `kill -9` of the worker's whole process group mid-provision: beat's reaper re-queues the run,
  a second worker resumes it, and the local cloud holds exactly one of each resource; the
  original task message, redelivered, does nothing;
- two provision requests at once (two CLI processes; and eight threads at the database): one
  runs, the others are refused naming it (CLI exit code 2);
- beat with the database scheduler sends the drift check; it finds a tampered setting and records
  a drift deployment triggered by "schedule".
"""

from __future__ import annotations

import importlib
import json
import signal
import threading
import time
from typing import Any

import pytest
from django.core import serializers
from django.db import connection
from django.utils import timezone
from worker_procs import STALE_AFTER_S, Cloud, Portal, finish, wait_for

from portal.models import AuditEvent, Deployment, Environment, Step
from portal.services import environments
from portal.services import runs as run_service
from portal.services.base import Actor, Conflict
from provisioning.names import Names
from provisioning.resources import resources_for
from provisioning.resources.alarms import ALARMS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),  # the processes see committed rows only
]

DRIFT_TASK = "portal.tasks.scheduled_drift_all"
REAPER_TASK = "portal.tasks.reap_stale_deployments"


def make_env(suffix: str) -> Environment:
    return environments.create_environment(
        Actor.cli(),
        suffix=suffix,
        stage="dev",
        owner="worker-tests",
        alarm_emails=["ops@example.com"],
    )


def deployment_of(suffix: str) -> Deployment | None:
    return Deployment.objects.filter(environment__suffix=suffix).order_by("id").first()


def every_second(task: str) -> None:
    """Make one of the beat schedules run every second.

    The schedules are rows written by a data migration; an earlier transactional test's flush may
    have removed them, so they are written again first, by the migration's own code."""
    from django.apps import apps
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    importlib.import_module("portal.migrations.0002_beat_schedules").create(apps, None)
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    periodic = PeriodicTask.objects.get(task=task)
    periodic.interval = interval
    periodic.last_run_at = None
    periodic.save()  # its signal bumps PeriodicTasks.last_update: beat reloads the schedule


def stored_records(dep: Deployment) -> str:
    """Everything the database holds about a run and its environment, as JSON text."""
    objects: list[Any] = [dep, dep.environment, *dep.steps.all(), *dep.checks.all()]
    objects += list(AuditEvent.objects.filter(environment=dep.environment))
    return serializers.serialize("json", objects)


def resource_counts(cloud: Cloud, suffix: str) -> dict[str, Any]:
    """How many of each resource of environment `suffix` the local cloud holds."""
    names = Names("envport", suffix, "dev")
    apigw, lam, ddb = cloud.client("apigateway"), cloud.client("lambda"), cloud.client("dynamodb")
    cw, sqs, sns, kms = (
        cloud.client("cloudwatch"),
        cloud.client("sqs"),
        cloud.client("sns"),
        cloud.client("kms"),
    )
    logs, iam = cloud.client("logs"), cloud.client("iam")
    prefix = names.base + "-"

    def kms_keys() -> int:
        count = 0
        for key in kms.list_keys()["Keys"]:
            meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if meta["KeyState"] in ("PendingDeletion", "PendingReplicaDeletion"):
                continue
            tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
            count += tags.get("Environment") == suffix
        return count

    alarms = [
        a["AlarmName"] for a in cw.describe_alarms(AlarmNamePrefix=prefix, MaxRecords=100)["MetricAlarms"]
    ]
    return {
        "rest_apis": sum(a["name"] == names.rest_api for a in apigw.get_rest_apis(limit=500)["items"]),
        "usage_plans": sum(p["name"] == names.usage_plan for p in apigw.get_usage_plans(limit=500)["items"]),
        "api_keys": sum(k["name"] == names.api_key for k in apigw.get_api_keys(limit=500)["items"]),
        "functions": sum(f["FunctionName"].startswith(prefix) for f in lam.list_functions()["Functions"]),
        "tables": sum(t.startswith(prefix) for t in ddb.list_tables()["TableNames"]),
        "queues": len(sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])),
        "topics": sum(t["TopicArn"].endswith(":" + names.topic) for t in sns.list_topics()["Topics"]),
        "kms_aliases": sum(a["AliasName"] == names.kms_alias for a in kms.list_aliases()["Aliases"]),
        "kms_keys": kms_keys(),
        "roles": sum(r["RoleName"].startswith(prefix) for r in iam.list_roles()["Roles"]),
        "log_groups": sorted(
            g["logGroupName"]
            for p in (names.function_log_group, names.access_log_group)
            for g in logs.describe_log_groups(logGroupNamePrefix=p)["logGroups"]
        ),
        "alarms": sorted(alarms),
    }


def one_of_each(suffix: str) -> dict[str, Any]:
    names = Names("envport", suffix, "dev")
    return {
        "rest_apis": 1,
        "usage_plans": 1,
        "api_keys": 1,
        "functions": 1,
        "tables": 1,
        "queues": 1,
        "topics": 1,
        "kms_aliases": 1,
        "kms_keys": 1,
        "roles": 1,
        "log_groups": sorted([names.function_log_group, names.access_log_group]),
        "alarms": sorted(f"{names.alarm_prefix}{alarm.short}" for alarm in ALARMS),
    }


def total_steps(dep: Deployment) -> int:
    """A step per resource the spec wants, and one for the other modes' resources found absent."""
    from portal.progress import expected_steps

    total = expected_steps(dep.kind, dep.spec_snapshot)
    assert total is not None
    return total


def wanted_keys(dep: Deployment) -> set[str]:
    from provisioning.resources.base import Context
    from provisioning.spec import spec_from_dict

    spec = spec_from_dict(dep.spec_snapshot)
    ctx = Context(spec=spec, aws=None)  # type: ignore[arg-type]  # wanted() reads the spec only
    return {r.key for r in resources_for(spec) if r.wanted(ctx)}


# --- a. provision through the worker ------------------------------------------------------------
def test_provision_through_a_worker_stores_steps_and_checks_and_no_key_value(portal: Portal) -> None:
    make_env("wka")
    worker = portal.worker()
    cli = portal.cli("provision", "provision", "wka", "--json")
    code, out, err = finish(cli, timeout=120)
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["status"] == "succeeded" and doc["kind"] == "provision", doc["error"]

    dep = Deployment.objects.select_related("environment").get(environment__suffix="wka")
    assert (dep.status, dep.trigger, dep.attempts) == ("succeeded", "cli", 1)
    assert dep.started_at and dep.finished_at and dep.calls_total > 0 and dep.calls_mutating > 0
    steps = list(dep.steps.order_by("position"))
    assert len(steps) == total_steps(dep) == len(doc["steps"])
    assert [s.position for s in steps] == list(range(1, len(steps) + 1))
    # What the spec asks for is created; the other modes' resources (auth, network) are observed
    # absent and left alone.
    wanted = wanted_keys(dep)
    assert all(
        s.status == "succeeded" and s.action == ("create" if s.resource in wanted else "no-op") for s in steps
    ), [(s.resource, s.action, s.status, s.error) for s in steps]
    checks = list(dep.checks.order_by("position"))
    assert checks and len(checks) == len(doc["checks"])
    assert all(c.passed for c in checks), [(c.name, c.expected, c.found) for c in checks if not c.passed]
    assert {c.requirement for c in checks} >= {"R-VER-1", "R-VER-2", "R-VER-3"}

    env = dep.environment
    assert env.status == "ready" and env.drift_state == "clean"
    assert env.outputs["api_key_id"] and env.outputs["api_endpoint"].startswith(portal.cloud.endpoint_url)
    assert dep.outputs == doc["outputs"] and "api_key_id" in dep.outputs

    # The key's value exists in the cloud, and nowhere in envport's records, output or logs.
    value = portal.cloud.client("apigateway").get_api_key(
        apiKey=env.outputs["api_key_id"], includeValue=True
    )["value"]
    assert len(value) >= 20
    for where, text in {
        "database": stored_records(dep),
        "CLI stdout": out,
        "CLI stderr": err,
        "worker log": worker.text(),
    }.items():
        assert value not in text, f"the API key value is in the {where}"
    assert f"Task portal.tasks.run_deployment_task[{dep.celery_task_id}] succeeded" in worker.text()


# --- b. kill -9 mid-provision ------------------------------------------------------------------------
def test_kill_9_mid_provision_the_reaper_requeues_and_one_of_each_resource_exists(portal: Portal) -> None:
    import redis

    make_env("wkb")
    # One engine thread on the first worker: its steps finish one after another, so the kill
    # lands while most resources are still to be made.
    first = portal.worker("worker1", ENVPORT_ENGINE_WORKERS="1")
    follower = portal.cli("provision", "provision", "wkb")  # follows the run, as a pipeline would

    def first_step_stored() -> Deployment | None:
        dep = deployment_of("wkb")
        if dep is not None and dep.status == "running" and dep.steps.exists():
            return dep
        return None

    dep = wait_for("the first step of the run", first_step_stored, timeout=60, interval=0.02)
    first.kill_group(signal.SIGKILL)
    first.popen.wait(timeout=10)
    killed_at, killed_at_wall = time.monotonic(), timezone.now()
    dep.refresh_from_db()
    steps_at_kill = dep.steps.count()
    assert dep.status == "running", "the run finished before the kill; nothing was tested"
    assert steps_at_kill < total_steps(dep), "every step was done before the kill"
    # The task message is unacknowledged: Redis would redeliver it only after the visibility
    # timeout (an hour), so the portal's recovery is the reaper, run by beat.
    broker = redis.Redis.from_url(portal.redis_url)
    assert broker.hlen("unacked") == 1

    every_second(REAPER_TASK)
    portal.worker("worker2")
    portal.beat()

    def finished() -> Deployment | None:
        dep.refresh_from_db()
        return dep if dep.status not in ("queued", "running") else None

    wait_for("the run to be resumed and finish", finished, timeout=120, interval=0.2)
    recovered_in = time.monotonic() - killed_at
    assert dep.status == "succeeded", dep.error
    assert dep.attempts == 2 and dep.requeued_at is not None
    assert AuditEvent.objects.filter(deployment=dep, action="deployment.requeued", source="schedule").exists()
    # The resumed run's record replaced the lost one's: every step once, all checks passed.
    steps = list(dep.steps.order_by("position"))
    assert len(steps) == total_steps(dep) and len({s.resource for s in steps}) == len(steps)
    assert all(s.status == "succeeded" for s in steps)
    assert any(s.action == "no-op" for s in steps), "the resumed run found nothing already made"
    assert dep.checks.exists() and all(c.passed for c in dep.checks.all())
    Environment.objects.get(suffix="wkb", status="ready")

    code, out, err = finish(follower, timeout=60)
    assert code == 0, out + err
    assert "(resumed by another worker)" in out

    assert resource_counts(portal.cloud, "wkb") == one_of_each("wkb")

    # The original message, redelivered at last (here: at once), finds the run finished and does nothing.
    from kombu import Connection

    with Connection(portal.redis_url, transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=10)
    worker2 = next(p for p in portal.procs.started if p.name == "worker2")
    worker2.wait_log(f"deployment {dep.pk} is succeeded; not run again", timeout=30)
    dep.refresh_from_db()
    assert (dep.status, dep.attempts) == ("succeeded", 2)
    assert resource_counts(portal.cloud, "wkb") == one_of_each("wkb")
    print(
        f"\nkill -9 after {steps_at_kill} of {len(steps)} steps; re-queued by the reaper "
        f"{(dep.requeued_at - killed_at_wall).total_seconds():.1f} s after the kill "
        f"(stale after {STALE_AFTER_S:.0f} s), finished {recovered_in:.1f} s after the kill"
    )


# --- c. two requests at once --------------------------------------------------------------------------
def test_two_provision_commands_at_once_one_runs_the_other_is_refused(portal: Portal) -> None:
    make_env("wkc")
    portal.worker()
    first = portal.cli("provision-1", "provision", "wkc", "--json", "--no-verify")
    second = portal.cli("provision-2", "provision", "wkc", "--json", "--no-verify")
    results = [finish(first, timeout=120), finish(second, timeout=120)]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    (_, won, _), (_, lost, lost_err) = sorted(results, key=lambda r: r[0])
    winner, loser = json.loads(won), json.loads(lost)
    assert winner["status"] == "succeeded", winner["error"]
    assert loser["status"] == "refused" and loser["deployment"] is None
    named = f"deployment #{winner['deployment']} (provision,"
    assert named in loser["error"] and named in lost_err, loser
    assert list(Deployment.objects.filter(environment__suffix="wkc").values_list("pk", flat=True)) == [
        winner["deployment"]
    ]


def test_simultaneous_requests_are_decided_by_the_database() -> None:
    """Eight threads request a provision at the same instant: the conditional unique constraint
    lets exactly one in, and every other one is refused naming it."""
    env = make_env("wkt")
    barrier = threading.Barrier(8)
    outcomes: list[Any] = []

    def request() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(run_service.request_deployment(Actor.cli(), env, "provision"))
        except Conflict as exc:
            outcomes.append(exc)
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    won = [o for o in outcomes if isinstance(o, Deployment)]
    refused = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1 and len(refused) == 7, outcomes
    assert all(f"deployment #{won[0].pk} (provision, queued" in str(c) for c in refused)
    assert all(c.running is not None and c.running.pk == won[0].pk for c in refused)
    assert Deployment.objects.filter(environment=env).count() == 1


# --- d. beat -------------------------------------------------------------------------------------------
def test_beat_sends_the_scheduled_drift_check_which_finds_a_tampered_setting(portal: Portal) -> None:
    make_env("wkd")
    worker = portal.worker()
    code, out, err = finish(portal.cli("provision", "provision", "wkd", "--json", "--no-verify"), timeout=120)
    assert code == 0, out + err
    function = Names("envport", "wkd", "dev").function
    lam = portal.cloud.client("lambda")
    wanted = lam.get_function_configuration(FunctionName=function)["MemorySize"]
    lam.update_function_configuration(FunctionName=function, MemorySize=wanted + 128)

    every_second(DRIFT_TASK)
    portal.beat()

    def scheduled_drift() -> Deployment | None:
        return (
            Deployment.objects.filter(environment__suffix="wkd", kind="drift", trigger="schedule")
            .exclude(status__in=["queued", "running"])
            .first()
        )

    dep = wait_for("a scheduled drift check", scheduled_drift, timeout=60, interval=0.2)
    # a drift check that finds differences did its job: succeeded, with what it found as its result
    assert (dep.status, dep.result) == ("succeeded", "drift_found"), (dep.status, dep.result, dep.error)
    findings = [(f.resource, f.field, f.wanted, f.found) for f in dep.findings.all()]
    assert ("function", "MemorySize", wanted, wanted + 128) in findings, findings
    env = Environment.objects.get(suffix="wkd")
    assert env.drift_state == "drifted"
    assert AuditEvent.objects.filter(deployment=dep, source="schedule", actor="schedule:drift").exists()
    assert f"Task {DRIFT_TASK}[" in worker.text()
    assert Step.objects.filter(deployment=dep).exists()
