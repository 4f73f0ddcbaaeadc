"""manage.py env create|update|list|show: JSON, exit codes, every problem listed (R-ENV-1, R-ENV-2)."""

from __future__ import annotations

import pytest

from portal.models import AuditEvent, Environment

pytestmark = pytest.mark.django_db


def test_create_prints_the_environment_and_audits_it(cli):
    result = cli(
        "env",
        "create",
        "dev1",
        "--stage",
        "dev",
        "--owner",
        "team-a",
        "--cost-centre",
        "cc-42",
        "--alarm-email",
        "ops@example.com",
        "--alarm-email",
        "dev@example.com",
        "--set",
        "memory_mb=512",
        "--set",
        "pitr=yes",
        "--expires",
        "2030-01-31",
        "--json",
    )
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["environment"] == "dev1" and doc["stage"] == "dev" and doc["status"] == "new"
    assert doc["alarm_emails"] == ["ops@example.com", "dev@example.com"]
    assert doc["overrides"] == {"memory_mb": 512, "pitr": True}  # typed by build_spec
    assert doc["settings"]["memory_mb"] == {"value": 512, "default": 256, "source": "overridden"}
    assert doc["settings"]["timeout_s"] == {"value": 10, "default": 10, "source": "inherited"}
    assert doc["expires_at"].startswith("2030-01-31T00:00:00")
    event = AuditEvent.objects.get()
    assert (event.action, event.source, event.environment_suffix) == ("environment.created", "cli", "dev1")


def test_create_lists_every_problem_and_saves_nothing(cli):
    """R-ENV-1: invalid suffix, unknown stage, bad region, override out of range, bad --set and --expires."""
    result = cli(
        "env",
        "create",
        "Bad_Name",
        "--stage",
        "qa",
        "--region",
        "mars",
        "--set",
        "memory_mb=99999",
        "--set",
        "colour=red",
        "--set",
        "novalue",
        "--alarm-email",
        "not-an-email",
        "--expires",
        "soon",
        "--json",
    )
    assert result.code == 2
    doc = result.json()
    assert doc["status"] == "refused" and doc["deployment"] is None
    problems = "\n".join(doc["problems"])
    for fragment in (
        "suffix: 'Bad_Name' is not allowed; 3 to 20 characters",
        "stage: 'qa'",
        "region: 'mars'",
        "memory_mb: '99999' is not allowed; an integer from 128 to 10240",
        "colour: 'red'",
        "--set 'novalue'",
        "alarm_emails: 'not-an-email'",
        "--expires 'soon'",
    ):
        assert fragment in problems
    assert "memory_mb" in result.err and "error:" in result.err  # the same list on stderr
    assert not Environment.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ab", "--stage", "dev"], "suffix: 'ab'"),  # too short
        (["1abc", "--stage", "dev"], "suffix: '1abc'"),  # not starting with a letter
        (["ok-name", "--stage", "production"], "stage: 'production'"),
        (["ok-name", "--stage", "dev", "--region", "us-east"], "region: 'us-east'"),
        (["ok-name", "--stage", "dev", "--set", "throttle_rate=5000"], "throttle_rate"),
        (["ok-name", "--stage", "dev", "--set", "log_retention_days=8"], "log_retention_days"),
        # (a burst below the rate is allowed since issue 22: they are two different limits)
        (["ok-name", "--stage", "dev", "--set", "throttle_burst=6000"], "throttle_burst"),
    ],
)
def test_create_refuses_each_bad_input(cli, args, fragment):
    result = cli("env", "create", *args)
    assert result.code == 2
    assert fragment in result.err
    assert not Environment.objects.exists()


def test_create_refuses_a_duplicate(cli, make_env):
    make_env("dev1")
    result = cli("env", "create", "dev1", "--stage", "dev", "--json")
    assert result.code == 2
    assert "already exists" in "\n".join(result.json()["problems"])


def test_create_without_stage_is_a_usage_error(cli):
    assert cli("env", "create", "dev1").code == 2


def test_update_sets_and_resets_overrides(cli, make_env):
    make_env("dev1", overrides={"memory_mb": 512})
    result = cli(
        "env", "update", "dev1", "--set", "memory_mb=", "--set", "timeout_s=20", "--owner", "team-b", "--json"
    )
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["overrides"] == {"timeout_s": 20}
    assert doc["settings"]["memory_mb"]["source"] == "inherited"
    assert doc["owner"] == "team-b"
    event = AuditEvent.objects.filter(action="environment.updated").get()
    assert event.detail["changes"]["overrides"] == {"before": {"memory_mb": 512}, "after": {"timeout_s": 20}}


def test_update_refuses_bad_values_and_keeps_the_old_ones(cli, make_env):
    make_env("dev1", overrides={"memory_mb": 512})
    result = cli("env", "update", "dev1", "--set", "memory_mb=1", "--set", "pitr=maybe", "--json")
    assert result.code == 2
    problems = "\n".join(result.json()["problems"])
    assert "memory_mb" in problems and "pitr" in problems
    assert Environment.objects.get().overrides == {"memory_mb": 512}


def test_update_refuses_bad_set_syntax_and_unknown_environment(cli, make_env):
    make_env("dev1")
    assert cli("env", "update", "dev1", "--set", "memory_mb").code == 2
    result = cli("env", "update", "nope", "--set", "memory_mb=512", "--json")
    assert result.code == 2
    assert "unknown environment 'nope'" in result.json()["error"]


def test_list_and_show(cli, make_env):
    make_env("dev1", owner="team-a")
    make_env("prod1", stage="prod", overrides={"reserved_concurrency": 200})
    listing = cli("env", "list", "--json")
    assert listing.code == 0
    envs = listing.json()["environments"]
    assert [e["environment"] for e in envs] == ["dev1", "prod1"]
    assert envs[1]["settings"]["deletion_protection"] == {
        "value": True,
        "default": True,
        "source": "inherited",
    }
    assert envs[1]["settings"]["reserved_concurrency"]["source"] == "overridden"
    assert {"outputs", "health", "drift", "last_deployment"} <= set(envs[0])

    shown = cli("env", "show", "prod1", "--json")
    assert shown.code == 0
    doc = shown.json()
    assert doc["health"] == {"status": "unknown", "checked_at": None, "detail": ""}
    assert doc["drift"] == {"state": "unknown", "checked_at": None}

    text = cli("env", "list")
    assert text.code == 0 and "dev1" in text.out and "prod1" in text.out
    text = cli("env", "show", "prod1")
    assert "* reserved_concurrency" in text.out and "(stage default 100)" in text.out


def test_show_names_every_resource_from_the_engines_inventory(cli, make_env):
    """Issue 18: `env show` names each resource by its AWS name and marks those the modes do not use."""
    make_env("dev1", overrides={"auth": "token"})
    doc = cli("env", "show", "dev1", "--json").json()
    rows = {r["key"]: r for r in doc["resources"]}
    assert len(rows) == 27 and all(r["name"] for r in rows.values())
    assert rows["authorizer_function"] == {
        "key": "authorizer_function",
        "kind": "lambda-function",
        "name": "envport-dev1-authorizer",
        "wanted": True,
        "shared": False,
    }
    assert rows["user_pool"]["wanted"] is False and rows["artifact_bucket"]["shared"] is True
    text = cli("env", "show", "dev1").out
    assert "    function_role " in text and "envport-dev1-fn-role" in text
    assert "  - user_pool " in text and "envport-dev1-users" in text


def test_show_unknown_environment(cli):
    result = cli("env", "show", "nope", "--json")
    assert result.code == 2
    assert result.json()["status"] == "refused"
    assert "unknown environment" in result.err
