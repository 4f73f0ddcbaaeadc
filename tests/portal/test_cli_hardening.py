"""Issue 8, the CLI's part: --expires values that overflowed, and --json documents kept clean.

Each test names the probe case it reproduces. The commands run for real (call_command through the
`cli` fixture); only the engine is scripted where a run is needed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from portal.models import AuditEvent, Deployment, Environment

pytestmark = pytest.mark.django_db

OUT_OF_RANGE = [
    "+99999999d",  # now + 273,000 years
    "+99999999999999h",  # more than a timedelta holds
    "+" + "9" * 5000 + "d",  # more digits than int() converts
    "9999-12-31T23:59:59-05:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC
]


@pytest.mark.parametrize("raw", OUT_OF_RANGE)
def test_create_with_an_out_of_range_expiry_is_refused_with_every_problem(cli: Any, raw: str) -> None:
    """probe: `env create --expires +99999999d` (and 9999-12-31T23:59:59-05:00, a year-1 date) ended
    in an OverflowError traceback and exit 1; now exit 2, listed with the other problems."""
    result = cli("env", "create", "pr1", "--stage", "dev", "--expires", raw, "--set", "memory_mb=1", "--json")
    assert result.code == 2, result.err
    problems = result.json()["problems"]
    assert any(p.startswith("--expires") and "outside the calendar" in p for p in problems), problems
    assert any("memory_mb" in p for p in problems), problems  # the bad --set is listed too
    assert "allowed: from now up to" in "\n".join(problems)  # and what is allowed
    assert "Traceback" not in result.err and "--expires" in result.err
    assert not Environment.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize("raw", OUT_OF_RANGE)
def test_create_with_only_an_out_of_range_expiry_exits_2(cli: Any, raw: str) -> None:
    """probe, as typed: `env create pr1 --stage dev --expires 9999-12-31T23:59:59-05:00` (no other
    problem) went on to the database and ended in an OverflowError traceback, exit 1."""
    result = cli("env", "create", "pr1", "--stage", "dev", "--expires", raw)
    assert result.code == 2
    assert "error: invalid environment 'pr1'" in result.err and "outside the calendar" in result.err
    assert not Environment.objects.exists()


def test_create_with_a_past_expiry_is_refused(cli: Any) -> None:
    """probe: `env create ... --expires 2020-01-01` created an environment the hourly sweep would
    tear down at once; now exit 2, "in the past"."""
    result = cli("env", "create", "pr1", "--stage", "dev", "--expires", "2020-01-01", "--json")
    assert result.code == 2
    (problem,) = result.json()["problems"]
    assert problem.startswith("--expires '2020-01-01': 2020-01-01 00:00 UTC is in the past; allowed:")
    assert not Environment.objects.exists()


def test_create_refuses_an_expiry_more_than_ten_years_ahead_and_accepts_one_within(cli: Any) -> None:
    """Found next to the probe's `+99999999d`: `9999-12-31T23:59:59+00:00` was accepted, one zone
    change or delay away from an overflow. An expiry is for previews, so the bound is MAX_AHEAD_DAYS."""
    from portal.management.commands.env import MAX_AHEAD_DAYS

    too_far = cli("env", "create", "pr1", "--stage", "dev", "--expires", "9999-12-31T23:59:59+00:00")
    assert too_far.code == 2 and "is too far ahead" in too_far.err
    ok = cli("env", "create", "pr1", "--stage", "dev", "--expires", f"+{MAX_AHEAD_DAYS - 1}d", "--json")
    assert ok.code == 0, ok.err
    expires = dt.datetime.fromisoformat(ok.json()["expires_at"])
    assert expires.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("raw", OUT_OF_RANGE)
def test_update_with_an_out_of_range_expiry_is_refused_with_every_problem(
    cli: Any, make_env: Any, raw: str
) -> None:
    """probe: `env update NAME --expires 9999-12-31T23:59:59-05:00` reached the database and failed
    with an OverflowError traceback; now exit 2 with the bad --set values listed as well."""
    make_env("pr1", expires_at=None)
    result = cli("env", "update", "pr1", "--expires", raw, "--set", "memory_mb=1", "--set", "x", "--json")
    assert result.code == 2, result.err
    problems = "\n".join(result.json()["problems"])
    assert "--expires" in problems and "outside the calendar" in problems
    assert "memory_mb: '1' is not allowed" in problems  # a bad value, found on a draft copy
    assert "--set 'x'" in problems  # a bad syntax
    env = Environment.objects.get()
    assert env.expires_at is None and env.overrides == {}


def test_update_accepts_a_past_expiry_and_stores_it_in_utc(cli: Any, make_env: Any) -> None:
    """Guard of the rule chosen with the fix (not a probe case; this passed before): a past expiry is
    how an operator lets the hourly sweep take a preview now, so an update still accepts one."""
    make_env("pr1")
    result = cli("env", "update", "pr1", "--expires", "2020-01-02T03:00:00+02:00", "--json")
    assert result.code == 0, result.err
    assert result.json()["expires_at"] == "2020-01-02T01:00:00+00:00"


def test_json_stays_one_document_while_a_run_waits_for_a_worker(
    cli: Any, engine: Any, make_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """probe: `provision NAME --json` with no worker: "still queued after 10 s" must not reach stdout,
    which has to stay exactly one JSON document; hints and the resumed marker go to stderr."""
    from portal.management import cli as cli_module
    from portal.services import runs
    from portal.tasks import run_deployment_task

    make_env("dev1")
    sent: list[Any] = []
    monkeypatch.setattr(run_deployment_task, "apply_async", lambda *a, **kw: sent.append((a, kw)))
    monkeypatch.setattr(cli_module, "QUEUED_HINT_S", 0.0)
    polls: list[float] = []

    def a_late_worker(seconds: float) -> None:
        """Queued for two polls (past the hint delay), then resumed once and run, as a worker would."""
        polls.append(seconds)
        dep = Deployment.objects.get()
        if len(polls) == 2:
            Deployment.objects.filter(pk=dep.pk).update(attempts=2)
        if len(polls) == 3:
            runs.run_deployment(dep.pk)

    monkeypatch.setattr(cli_module, "_sleep", a_late_worker)
    result = cli("provision", "dev1", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)  # the whole of stdout is one document
    assert (doc["environment"], doc["kind"], doc["status"]) == ("dev1", "provision", "succeeded")
    assert "still queued after 0 s: is a Celery worker running?" in result.err
    assert "still queued" not in result.out and "resumed" not in result.out
    assert len(polls) >= 3 and sent == []  # nothing reached a broker (the test's transaction never commits)


def test_drift_all_json_is_one_document_with_the_skipped_ones(cli: Any, engine: Any, make_env: Any) -> None:
    """Guard from the --json audit (passed before too): `drift --all --json` with one environment
    busy prints its "skipped" notice on stderr and in the document, never before it on stdout."""
    from portal.services import runs
    from portal.services.base import Actor

    make_env("dev1", status="ready")
    busy = make_env("dev2", status="ready")
    runs.request_deployment(Actor.cli(), busy, Deployment.Kind.PROVISION)
    result = cli("drift", "--all", "--inline", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [e["environment"] for e in doc["environments"]] == ["dev1"]
    assert [s["environment"] for s in doc["skipped"]] == ["dev2"]
    assert "skipped dev2" in result.err


def test_an_expiry_on_prod_is_refused_with_exit_2_and_listed_with_the_other_problems(
    cli: Any, make_env: Any
) -> None:
    """probe: an operator set an expiry on an unprotected prod environment and the hourly sweep tore
    it down; the service refuses that now, and the CLI shows it as exit 2, beside its own problems."""
    result = cli("env", "create", "prod1", "--stage", "prod", "--expires", "+7d", "--set", "x", "--json")
    assert result.code == 2
    problems = "\n".join(result.json()["problems"])
    assert "--set 'x'" in problems and "prod environment never expires" in problems
    assert not Environment.objects.exists()

    make_env("prod1", stage="prod", overrides={"deletion_protection": False})
    result = cli("env", "update", "prod1", "--expires", "+7d", "--json")
    assert result.code == 2 and "prod environment never expires" in "\n".join(result.json()["problems"])
    assert "Traceback" not in result.err and Environment.objects.get().expires_at is None
