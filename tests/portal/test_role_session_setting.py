"""ENVPORT_ROLE_SESSION_SECONDS: the DurationSeconds of an environment role's sessions, checked at
start-up against AssumeRole's bounds (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html:
900 to 43200, and at most the role's MaxSessionDuration, which STS itself enforces)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_settings_celery import _run

SHOW = (
    "import django; django.setup(); from django.conf import settings; from portal.targets import target_for; "
    "print(settings.ENVPORT_ROLE_SESSION_SECONDS, target_for('us-east-1').session_duration_s)"
)


@pytest.mark.heavy
@pytest.mark.parametrize("value", ["899", "43201", "3600s", "9" * 40, "\uff11\uff12\uff10\uff10"])
def test_a_session_duration_outside_sts_bounds_refuses_to_start(tmp_path: Path, value: str) -> None:
    done = _run({"ENVPORT_ROLE_SESSION_SECONDS": value}, "-c", SHOW, tmp_path=tmp_path)
    assert done.returncode != 0, done.stdout
    assert "ImproperlyConfigured" in done.stderr
    assert "whole seconds from 900 to 43200" in done.stderr


@pytest.mark.heavy
def test_the_session_duration_reaches_the_target(tmp_path: Path) -> None:
    done = _run({"ENVPORT_ROLE_SESSION_SECONDS": "900"}, "-c", SHOW, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["900", "900"]
    default = _run({}, "-c", SHOW, tmp_path=tmp_path)
    assert default.stdout.split() == ["3600", "3600"], default.stderr
