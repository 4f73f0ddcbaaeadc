"""The logs service (issue 19 items 2-4): one guard per function, input bounded before any AWS
call, key values and tokens never shown, a check's lines found by its request id; and the CLI."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management import call_command

from portal.management.cli import Exit
from portal.models import CheckResult, Deployment
from portal.services import logs as service
from portal.services.base import Actor, Forbidden, InvalidInput, NotFound
from tests.portal.logs_helpers import API_KEY_VALUE, BEARER, FAILED_ID, FAILED_LAMBDA_ID, seed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()
    service._keys.clear()


def person(role: str) -> Actor:
    user = User.objects.create_user(f"{role}-1", f"{role}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return Actor("ui", user)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_reads_logs_and_errors(moto_target: None, make_env: Any, role: str) -> None:
    """Issue 19 item 4: viewers may read logs and errors."""
    env = make_env("dev1")
    seed(env)
    who = person(role)
    view = service.read_logs(who, env)
    assert any(r["request_id"] == FAILED_ID for r in view["rows"])
    report = service.read_errors(who, env)
    assert [(g["exception"], g["frame"], g["versions"]) for g in report["groups"]] == [
        ("ResourceNotFoundException", "lambda_bundle/store.py in list_page", ["2"])
    ]


def test_a_schedule_and_an_anonymous_actor_may_not_read(moto_target: None, make_env: Any) -> None:
    env = make_env("dev1")
    with pytest.raises(Forbidden):
        service.read_logs(Actor.schedule("health"), env)
    with pytest.raises(Forbidden):
        service.read_errors(Actor("api", None), env)


def test_a_token_out_of_reach_answers_as_if_absent(moto_target: None, make_env: Any) -> None:
    """Token scopes: an environment outside a token's stages is NotFound, as an absent one."""
    from portal.tokens.reach import Reach

    env = make_env("dev1")
    user = User.objects.create_user("t", "t@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    reach = Reach(stages=frozenset({"prod"}), patterns=(), read_only=True)
    with pytest.raises(NotFound):
        service.read_logs(Actor("api", user, reach=reach), env)


def test_key_values_and_bearer_tokens_are_redacted(moto_target: None, make_env: Any) -> None:
    """Key values and secrets never appear: the environment's API key value and a bearer token in a
    log line are replaced, in the logs view and in the errors' samples."""
    env = make_env("dev1")
    seed(env)
    text = json.dumps(service.read_logs(person("viewer"), env))
    assert API_KEY_VALUE not in text and BEARER not in text
    assert "[redacted]" in text


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"since": "90d"}, "at most 30d"),
        ({"since": "15 minutes"}, "at most 30d"),
        ({"pattern": "x" * 2000}, "at most 1024"),
        ({"request_id": "'; DROP TABLE"}, "8 to 64"),
        ({"source": "s3"}, "one of function, access"),
        ({"status": "5xx"}, "only the access log"),
    ],
)
def test_hostile_input_is_refused_before_any_call(make_env: Any, query: dict[str, Any], problem: str) -> None:
    """Bounded input: each refusal names what is allowed; no AWS target is even configured here."""
    env = make_env("dev1")
    with pytest.raises(InvalidInput) as caught:
        service.read_logs(Actor.cli(), env, **query)
    assert any(problem in p for p in caught.value.problems)


def test_a_failed_checks_request_id_finds_its_lines(moto_target: None, make_env: Any) -> None:
    """Issue 19 item 2: a failed check's request id finds its JSON lines and its invocation's
    START/END/REPORT lines (what the deployment page shows inline)."""
    env = make_env("dev1")
    seed(env)
    dep = Deployment.objects.create(environment=env, kind="verify", status="failed")
    Deployment.objects.filter(pk=dep.pk).update(started_at=dep.created_at, finished_at=dep.created_at)
    dep.refresh_from_db()
    check = CheckResult.objects.create(
        deployment=dep, name="create item", passed=False, http_status=500, request_id=FAILED_ID
    )
    lines = service.check_lines(person("viewer"), check)
    kinds = sorted(r["kind"] for r in lines["rows"])
    assert kinds == ["json", "json", "runtime", "runtime", "runtime"]
    assert {r["lambda_request_id"] for r in lines["rows"]} == {FAILED_LAMBDA_ID}
    assert lines["cached"] is False and service.check_lines(person("operator"), check)["cached"] is True


# --- the CLI ---------------------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except Exit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.heavy
def test_cli_logs_and_errors(moto_target: None, make_env: Any) -> None:
    env = make_env("dev1")
    seed(env)
    code, out, _ = run("logs", env.suffix, "--request-id", FAILED_ID)
    assert code == 0 and "unhandled error [ResourceNotFoundException]" in out
    assert f"START RequestId: {FAILED_LAMBDA_ID}" in out and f"REPORT RequestId: {FAILED_LAMBDA_ID}" in out
    assert len(out.splitlines()) == 5
    code, out, _ = run("errors", env.suffix, "--json")
    document = json.loads(out)
    assert code == 0 and document["groups"][0]["count"] == 1
    assert API_KEY_VALUE not in out


@pytest.mark.parametrize(
    "args",
    [("--since", "45d"), ("--filter", "y" * 1100), ("--request-id", "not an id"), ("--status", "5xx")],
)
def test_cli_refuses_bad_input_with_exit_2(make_env: Any, args: tuple[str, str]) -> None:
    """Bounded input in the CLI: exit 2 and what is allowed, before any AWS call."""
    env = make_env("dev1")
    code, _, err = run("logs", env.suffix, *args)
    assert code == 2
    assert any(words in err for words in ("not allowed", "only the access log", "too long", "too far back"))
    code, _, err = run("errors", env.suffix, "--since", "1y")
    assert code == 2 and "at most 30d" in err


def test_cli_follow_prints_each_new_line_once_and_stops(
    moto_target: None, make_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`manage.py logs NAME --follow`: a poll per interval prints only new lines, and the tail is
    bounded (it stops by itself after FOLLOW_MAX_S)."""
    import time as clock

    import boto3

    from portal.management.commands import logs as command

    env = make_env("dev1")
    placed = seed(env)
    polls: list[float] = []

    def poll(seconds: float) -> None:
        polls.append(seconds)
        cache.clear()  # the next poll reads afresh, as it would after the interval
        boto3.client("logs", region_name=env.region).put_log_events(
            logGroupName=placed["group"],
            logStreamName="2026/12/07/[2]f00dfeed",
            logEvents=[{"timestamp": int(clock.time() * 1000), "message": f"new line {len(polls)}"}],
        )

    monkeypatch.setattr(command, "_sleep", poll)
    monkeypatch.setattr(command, "FOLLOW_MAX_S", 3 * service.LIVE_TAIL_S)
    code, out, _ = run("logs", env.suffix, "--follow")
    assert code == 0 and polls == [service.LIVE_TAIL_S] * 3
    assert [out.count(f"new line {i}") for i in (1, 2, 3)] == [1, 1, 1]  # each once, none twice
    assert out.count("START RequestId") == 1
    code, _, err = run("logs", env.suffix, "--follow", "--json")
    assert code == 2 and "leave out --json" in err
