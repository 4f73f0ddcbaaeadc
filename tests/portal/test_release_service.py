"""Releases in the service layer and the CLI, before any AWS call (R-REL-1, R-REL-3, R-REL-6).

What is refused is refused the same way by every path (the CLI here, the console in
tests/console/test_release_pages.py): every problem listed, exit 2, nothing queued, no artifact
recorded for a release that could not start.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from portal.models import Artifact, AuditEvent, Deployment, Environment
from portal.services import releases as release_service
from portal.services.base import Actor, Forbidden, InvalidInput

pytestmark = pytest.mark.django_db

CLI = Actor.cli()
READY = Environment.Status.READY


def _ui(role: str) -> Actor:
    user = User.objects.create_user(f"{role}-user", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return Actor("ui", user)


def _package(tmp_path: Path, body: str, name: str = "app") -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "handler.py").write_text(body)
    return root


GOOD = (
    "import json\n\n\ndef lambda_handler(event, context):\n"
    "    return {'statusCode': 200, 'body': json.dumps({})}\n"
)


# R-REL-1
def test_cli_refuses_an_artifact_that_imports_what_it_does_not_vendor(cli, make_env, tmp_path):
    """An import that would fail on Lambda with Runtime.ImportModuleError is exit 2 naming the
    module; nothing is recorded or queued."""
    make_env("dev1", status=READY)
    body = "import notvendored_pkg\n\n\ndef lambda_handler(event, context):\n    return {}\n"
    root = _package(tmp_path, body)
    result = cli("release", "dev1", "--bundle", str(root), "--json")
    assert result.code == 2, result.err
    assert "notvendored_pkg" in result.err and result.json()["status"] == "refused"
    assert not Artifact.objects.exists() and not Deployment.objects.filter(kind="release").exists()


# R-REL-3
def test_cli_lists_every_strategy_problem_before_building(cli, make_env, tmp_path):
    make_env("stg1", "staging", status=READY)
    result = cli(
        "release", "stg1", "--bundle", str(tmp_path / "absent"), "--strategy", "canary",
        "--percent", "150", "--bake", "5x", "--json",
    )  # fmt: skip
    assert result.code == 2
    problems = result.json()["problems"]
    assert any(p.startswith("--percent: 150") for p in problems)
    assert any(p.startswith("--bake: '5x'") and "30s, 5m or 1h" in p for p in problems)


def test_a_release_needs_a_provisioned_environment_and_records_nothing(cli, make_env, tmp_path):
    make_env("dev1")  # new: no function, no alias yet
    result = cli("release", "dev1", "--bundle", str(_package(tmp_path, GOOD)))
    assert result.code == 2 and "provision it first" in result.err
    assert not Artifact.objects.exists()


def test_cli_release_of_a_good_bundle_records_the_artifact_and_queues_the_release(make_env, tmp_path):
    env = make_env("dev1", status=READY)
    from provisioning.artifacts import build_artifact

    built = build_artifact(_package(tmp_path, GOOD))
    record = release_service.register_artifact(CLI, built)
    assert release_service.register_artifact(CLI, built).pk == record.pk  # the same bytes are stored once
    dep = release_service.request_release(
        CLI, env, artifact=record, strategy="canary", percent="25", bake="30s"
    )
    assert dep.kind == "release" and dep.status == "queued" and dep.artifact_sha256 == built.sha256
    assert dep.options["strategy"] == {"kind": "canary", "percent": 25, "bake_s": 30, "interval_s": 0}
    assert bytes(Artifact.objects.get(sha256=built.sha256).data) == built.data
    assert AuditEvent.objects.filter(action="artifact.registered").count() == 1
    assert AuditEvent.objects.filter(action="deployment.requested.release", deployment=dep).exists()


# R-REL-6
def test_promotion_ships_what_the_source_serves(make_env, tmp_path):
    from provisioning.artifacts import build_artifact

    record = release_service.register_artifact(CLI, build_artifact(_package(tmp_path, GOOD)))
    staging = make_env("stg1", "staging", status=READY)
    Environment.objects.filter(pk=staging.pk).update(artifact_sha256=record.sha256, handler=record.handler)
    prod = make_env("prod1", "prod", status=READY)
    dep = release_service.request_release(CLI, prod, source=Environment.objects.get(pk=staging.pk))
    assert dep.artifact_sha256 == record.sha256 and dep.options["source_environment"] == "stg1"
    assert dep.options["strategy"]["kind"] == "canary"  # prod's stage default


def test_promotion_from_an_environment_without_a_release_is_refused(make_env):
    make_env("dev1", status=READY)
    prod = make_env("prod1", "prod", status=READY)
    with pytest.raises(InvalidInput) as caught:
        release_service.request_release(CLI, prod, source=Environment.objects.get(suffix="dev1"))
    assert any("lambda_bundle" in p for p in caught.value.problems)


@pytest.mark.parametrize(("role", "stage", "may"), [
    ("viewer", "dev", False), ("operator", "dev", True), ("operator", "prod", False), ("admin", "prod", True),
])  # fmt: skip
def test_who_may_release_and_roll_back_is_decided_in_the_service(make_env, role, stage, may):
    env = make_env(f"{stage}1", stage, status=READY)
    actor = _ui(role)
    assert release_service.may_release(actor, env) is may
    if may:
        assert release_service.request_rollback(actor, env).kind == "rollback"
    else:
        with pytest.raises(Forbidden):
            release_service.request_rollback(actor, env)


def test_rollback_version_must_be_a_number(cli, make_env):
    make_env("dev1", status=READY)
    result = cli("rollback", "dev1", "--to", "latest", "--json")
    assert result.code == 2 and any("published version number" in p for p in result.json()["problems"])


def test_unknown_artifact_is_exit_2(cli, make_env):
    make_env("dev1", status=READY)
    result = cli("release", "dev1", "--artifact", "deadbeefdeadbeef")
    assert result.code == 2 and "no artifact with SHA-256 deadbeefdeadbeef" in result.err


def test_releases_lists_history_and_what_serves(cli, make_env):
    make_env("dev1", status=READY)
    listed = cli("releases", "dev1", "--json")
    assert listed.code == 0
    assert listed.json()["serving"] == {"artifact_sha256": None, "handler": None, "version": None}
    assert listed.json()["releases"] == []
