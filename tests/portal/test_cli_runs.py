"""provision / verify / drift / teardown / localcloud: the --json document and the exit codes.

The engine is scripted here (the `engine` fixture): these tests are about the CLI's shape and the
portal's bookkeeping. The real engine through the portal runs against moto in test_moto.py.
"""

from __future__ import annotations

import io
import signal
import sys

import pytest

from portal.models import AuditEvent, Deployment, Environment, Step

pytestmark = pytest.mark.django_db

DOC_KEYS = {"environment", "kind", "status", "outputs", "calls", "steps", "checks", "findings", "error"}
CHECK_KEYS = {"name", "passed", "status", "latency_ms", "expected", "found"}
FINDING_KEYS = {"resource", "field", "wanted", "found"}


def test_provision_inline_json_document(cli, engine, make_env):
    make_env("dev1")
    result = cli("provision", "dev1", "--inline", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert set(doc) >= DOC_KEYS
    assert (doc["environment"], doc["kind"], doc["status"], doc["error"]) == (
        "dev1",
        "provision",
        "succeeded",
        None,
    )
    assert doc["calls"]["total"] == 12 + 5 and doc["calls"]["mutating"] == 4  # engine + verification
    assert [s["resource"] for s in doc["steps"]] == engine.resources
    assert all(set(c) >= CHECK_KEYS for c in doc["checks"]) and len(doc["checks"]) == 3
    assert doc["checks"][0] == {
        "name": "create item",
        "requirement": "R-VER-1",
        "passed": True,
        "status": 201,
        "latency_ms": 12.5,
        "expected": "201",
        "found": "201",
        "request_id": None,  # the scripted verification made no request
    }
    assert doc["findings"] == []
    # R-ENV-4: the key's id is kept, its value never (even if an engine returned it).
    assert doc["outputs"]["api_key_id"] == "key123" and "api_key_value" not in doc["outputs"]
    secret = engine.outputs["api_key_value"]
    assert secret not in result.out
    env = Environment.objects.get()
    assert env.status == "ready" and env.drift_state == "clean"
    assert env.outputs["api_endpoint"].endswith("/_user_request_") and secret not in str(env.outputs)
    dep = Deployment.objects.get()
    assert (dep.trigger, dep.options, dep.attempts) == ("cli", {"verify": True}, 1)
    assert dep.spec_snapshot["suffix"] == "dev1" and dep.spec_snapshot["settings"]["memory_mb"] == 256
    assert [c[0] for c in engine.calls] == ["apply", "verify"]
    assert AuditEvent.objects.filter(action="deployment.requested.provision", source="cli").count() == 1


def test_provision_text_output_shows_steps(cli, engine, make_env):
    make_env("dev1")
    result = cli("provision", "dev1", "--inline")
    assert result.code == 0
    assert "ok   table" in result.out and "provision dev1: succeeded" in result.out
    assert "checks: 3 of 3 passed" in result.out


def test_provision_failed_step_exits_1(cli, engine, make_env):
    make_env("dev1")
    engine.fail_resource = "function"
    result = cli("provision", "dev1", "--inline", "--json")
    assert result.code == 1
    doc = result.json()
    assert doc["status"] == "failed" and "function" in doc["error"]
    assert {s["resource"]: s["status"] for s in doc["steps"]}["function"] == "failed"
    assert doc["checks"] == []  # no verification of a failed provision
    assert Environment.objects.get().status == "failed"
    assert "error:" in result.err


def test_provision_failed_check_exits_1(cli, engine, make_env):
    make_env("dev1")
    engine.verify_fail = ["read item"]
    result = cli("provision", "dev1", "--inline", "--json")
    assert result.code == 1
    doc = result.json()
    assert doc["status"] == "failed" and "verification failed: 1 of 3 checks: read item" in doc["error"]
    assert Environment.objects.get().status == "ready"  # in place, watched; the deployment failed
    failed = [c for c in doc["checks"] if not c["passed"]]
    assert failed == [
        {
            "name": "read item",
            "requirement": "R-VER-1",
            "passed": False,
            "status": 500,
            "latency_ms": 12.5,
            "expected": "200",
            "found": "500",
            "request_id": None,
        }
    ]


def test_provision_no_verify_and_plan(cli, engine, make_env):
    make_env("dev1")
    result = cli("provision", "dev1", "--no-verify", "--inline", "--json")
    assert result.code == 0 and result.json()["checks"] == []
    assert Deployment.objects.get().options == {"verify": False}

    engine.diffs = {"table": [("pitr", True, False)]}
    result = cli("provision", "dev1", "--plan", "--inline", "--json")
    assert result.code == 0
    doc = result.json()
    assert doc["kind"] == "plan" and doc["checks"] == [] and doc["findings"] == []
    table = next(s for s in doc["steps"] if s["resource"] == "table")
    assert table["action"] == "update"
    assert table["diffs"] == [{"resource": "table", "field": "pitr", "wanted": True, "found": False}]
    text = cli("provision", "dev1", "--plan", "--inline")
    assert "plan: 1 of 4 resources would change" in text.out and "pitr: false -> true" in text.out
    assert [c[0] for c in engine.calls] == ["apply", "plan", "plan"]


def test_run_commands_refuse_unknown_environments(cli, engine):
    for args in (["provision", "nope"], ["verify", "nope"], ["drift", "nope"], ["teardown", "nope", "--yes"]):
        result = cli(*args, "--inline", "--json")
        assert result.code == 2, args
        doc = result.json()
        assert doc["status"] == "refused" and "unknown environment 'nope'" in doc["error"]
    assert engine.calls == [] and not Deployment.objects.exists()


def test_provision_refuses_an_invalid_stored_definition(cli, engine, make_env):
    env = make_env("dev1")
    Environment.objects.filter(pk=env.pk).update(overrides={"memory_mb": 1, "timeout_s": 99})
    result = cli("provision", "dev1", "--inline", "--json")
    assert result.code == 2
    problems = "\n".join(result.json()["problems"])
    assert "memory_mb" in problems and "timeout_s" in problems
    assert not Deployment.objects.exists()


def test_second_request_is_refused_naming_the_running_one(cli, engine, make_env):
    env = make_env("dev1")
    running = Deployment.objects.create(environment=env, kind="provision", status="running")
    result = cli("provision", "dev1", "--inline", "--json")
    assert result.code == 2
    assert f"deployment #{running.pk} (provision, running" in result.json()["error"]
    assert engine.calls == []


def test_verify(cli, engine, make_env):
    make_env("dev1", status="ready")
    result = cli("verify", "dev1", "--inline", "--json")
    assert result.code == 0
    doc = result.json()
    assert doc["kind"] == "verify" and doc["steps"] == [] and len(doc["checks"]) == 3
    assert doc["calls"] == {"total": 5, "mutating": 0, "by_operation": {"apigateway.GetApiKey": 5}}
    engine.verify_fail = ["no api key"]
    assert cli("verify", "dev1", "--inline", "--json").code == 1
    assert Environment.objects.get().status == "ready"  # verification does not change the status


def test_verify_refuses_an_environment_never_provisioned(cli, engine, make_env):
    make_env("dev1")
    result = cli("verify", "dev1", "--inline", "--json")
    assert result.code == 2 and "not provisioned" in result.json()["error"]


def test_drift_clean_and_drifted(cli, engine, make_env):
    make_env("dev1", status="ready")
    result = cli("drift", "dev1", "--inline", "--json")
    assert result.code == 0
    assert result.json()["findings"] == [] and result.json()["result"] == "clean"
    assert Environment.objects.get().drift_state == "clean"

    engine.diffs = {"function": [("memory_size", 256, 1024)], "table": [("pitr", False, True)]}
    result = cli("drift", "dev1", "--inline", "--json")
    assert result.code == 3  # the check succeeded and found drift
    doc = result.json()
    assert all(set(f) >= FINDING_KEYS for f in doc["findings"])
    assert {(f["resource"], f["field"], f["wanted"], f["found"]) for f in doc["findings"]} == {
        ("function", "memory_size", 256, 1024),
        ("table", "pitr", False, True),
    }
    assert (doc["status"], doc["result"], doc["error"]) == ("succeeded", "drift_found", None)
    env = Environment.objects.get()
    assert env.drift_state == "drifted" and env.drift_findings.count() == 2


def test_drift_all(cli, engine, make_env):
    make_env("dev1", status="ready")
    make_env("dev2", status="ready")
    make_env("dev3")  # never provisioned: not checked
    engine.diffs = {"table": [("pitr", False, True)]}
    result = cli("drift", "--all", "--inline", "--json")
    assert result.code == 3
    doc = result.json()
    assert (doc["kind"], doc["status"], doc["result"]) == ("drift", "succeeded", "drift_found")
    assert [d["environment"] for d in doc["environments"]] == ["dev1", "dev2"]
    assert all(len(d["findings"]) == 1 for d in doc["environments"])


def test_drift_needs_a_name_or_all(cli, engine):
    assert cli("drift", "--inline").code == 2
    assert cli("drift", "dev1", "--all", "--inline").code == 2


def test_teardown_needs_confirmation(cli, engine, make_env, monkeypatch):
    make_env("dev1", status="ready")
    result = cli("teardown", "dev1", "--inline", "--json")  # not a terminal, no --yes
    assert result.code == 2 and "--yes" in result.json()["error"]

    monkeypatch.setattr(sys, "stdin", _Tty("wrong\n"))
    assert cli("teardown", "dev1", "--inline").code == 2
    assert not Deployment.objects.exists()

    monkeypatch.setattr(sys, "stdin", _Tty("dev1\n"))
    result = cli("teardown", "dev1", "--inline", "--json")
    assert result.code == 0, result.err
    assert "Type its name to confirm" in result.err
    assert result.json()["status"] == "succeeded"
    env = Environment.objects.get()
    assert (env.status, env.desired_state, env.outputs) == ("torn_down", "absent", {})
    assert engine.calls == [("destroy", "dev1", True)]


def test_teardown_of_prod_needs_yes_even_on_a_terminal(cli, engine, make_env, monkeypatch):
    make_env("prod1", stage="prod", status="ready", overrides={"deletion_protection": False})
    monkeypatch.setattr(sys, "stdin", _Tty("prod1\n"))
    result = cli("teardown", "prod1", "--inline", "--json")
    assert result.code == 2 and "prod" in result.json()["error"]
    result = cli("teardown", "prod1", "--yes", "--no-backup", "--inline", "--json")
    assert result.code == 0
    assert engine.calls == [("destroy", "prod1", False)]
    assert Deployment.objects.get().options == {"backup": False}


def test_teardown_of_protected_prod_is_refused_before_it_is_queued(cli, engine, make_env):
    """probe: a protected prod teardown was refused before queueing in the console and the API,
    but queued (desired state absent) and refused later by the engine from the CLI."""
    make_env("prod1", stage="prod", status="ready")
    result = cli("teardown", "prod1", "--yes", "--inline", "--json")
    assert result.code == 2
    doc = result.json()
    assert doc["status"] == "refused" and "deletion protection" in doc["error"]
    assert doc["problems"][0].startswith("deletion_protection: prod1 is protected")
    env = Environment.objects.get()
    assert (env.status, env.desired_state) == ("ready", "present")
    assert not Deployment.objects.exists() and engine.calls == []


def test_follow_prints_steps_as_a_worker_writes_them(cli, engine, make_env, monkeypatch):
    """Without --inline: enqueue, then poll; here a simulated worker runs it during the first wait."""
    from portal import dispatch
    from portal.management import cli as cli_module
    from portal.services import runs as run_service

    make_env("dev1")
    monkeypatch.setattr(dispatch, "enqueue", lambda dep: None)  # no broker in this test
    monkeypatch.setattr(cli_module, "QUEUED_HINT_S", 0.0)
    waits = []

    def worker_runs_it(seconds: float) -> None:
        waits.append(seconds)
        dep = Deployment.objects.get()
        if dep.status == "queued":
            run_service.run_deployment(dep.pk)

    monkeypatch.setattr(cli_module, "_sleep", worker_runs_it)
    result = cli("provision", "dev1")
    assert result.code == 0, result.err
    assert "is a Celery worker running?" in result.err
    assert result.out.count("ok   ") == len(engine.resources)
    assert waits == [cli_module.POLL_S]


def test_step_printer_draws_a_progress_bar_on_a_terminal():
    from portal.management.cli import StepPrinter

    out = io.StringIO()
    printer = StepPrinter(out, total=4, enabled=True, tty=True)
    printer.step(
        Step(
            resource="table",
            kind="table",
            action="create",
            status="succeeded",
            seconds=1.5,
            calls=7,
            started_offset_s=0,
            position=1,
        )
    )
    text = out.getvalue()
    assert "ok   table" in text and "[" + "#" * 8 in text and "] 1/4" in text
    printer.close()
    assert out.getvalue().endswith("\r\033[K")


def test_localcloud_runs_until_a_signal(cli, monkeypatch):
    import localcloud

    seen = []

    class FakeCloud:
        def __init__(self, host: str, port: int) -> None:
            seen.append(("init", host, port))
            self.endpoint_url = f"http://{host}:{port}"
            self.stage_url_template = self.endpoint_url + "/restapis/{api_id}/{stage}/_user_request_"

        def start(self) -> FakeCloud:
            seen.append("start")
            signal.raise_signal(signal.SIGTERM)  # as `kill` would, once it is up
            return self

        def stop(self) -> None:
            seen.append("stop")

    monkeypatch.setattr(localcloud, "LocalCloud", FakeCloud)
    previous = signal.getsignal(signal.SIGTERM)
    result = cli("localcloud", "--port", "4599")
    assert result.code == 0
    assert seen == [("init", "127.0.0.1", 4599), "start", "stop"]
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:4599" in result.out and "stopped" in result.out
    assert signal.getsignal(signal.SIGTERM) is previous


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_followed_release_says_where_its_bake_is_between_steps(make_env, monkeypatch):
    """Issue 23: a five-minute bake printed nothing at all. At least every PROGRESS_EVERY_S the
    follower prints the traffic split and the alarms' last verdict."""
    # R-REL-4
    from portal.management import cli as cli_module
    from portal.models import CheckResult

    env = make_env("dev1", status="ready")
    dep = Deployment.objects.create(
        environment=env,
        kind="release",
        status="running",
        artifact_sha256="e" * 64,
        release_state={"phase": "shifted", "percent": 10, "from_version": "1", "to_version": "2"},
    )
    polls = []

    def bake(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            CheckResult.objects.create(
                deployment=dep,
                position=1,
                name="alarms with 10% on version 2",
                passed=True,
                found="8 alarms: OK",
            )
        else:
            Deployment.objects.filter(pk=dep.pk).update(status="succeeded", result="promoted")

    monkeypatch.setattr(cli_module, "_sleep", bake)
    monkeypatch.setattr(cli_module, "PROGRESS_EVERY_S", 0.0)
    out = io.StringIO()
    command = cli_module.EnvportCommand(stdout=out)
    command.follow([dep], {dep.pk: command.printer(dep, as_json=False)})
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert lines[:2] == [
        "shifted: 10% on version 2, 90% on version 1; alarms: not checked yet",
        "shifted: 10% on version 2, 90% on version 1; alarms: 8 alarms: OK",
    ]


def test_values_are_printed_as_people_write_them():
    """Issue 23: `subnet_ids ()`, "1 calls", hashes of three lengths, microseconds."""
    from portal.management.cli import plural, short_hash, shown, when

    assert [shown(v) for v in ((), [], None, "", ("a", "b"), True, {"k": 1}, 256)] == [
        "-",
        "-",
        "-",
        "-",
        "a, b",
        "true",
        "k=1",
        "256",
    ]
    assert (plural(1, "call"), plural(0, "call"), plural(2, "call")) == ("1 call", "0 calls", "2 calls")
    assert short_hash("ab" * 32) == "ab" * 6 and short_hash(None) == "-"
    assert when("2026-11-29T03:21:43.123456+00:00") == "2026-11-29 03:21:43 UTC"
