"""Settings from the environment, production hardening, the broker fallback, Celery and beat set-up."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.broker import choose_broker, redis_answers
from portal.logutil import RedactSecrets

ROOT = Path(__file__).resolve().parents[2]
# Passes check --deploy's bar (50 characters, 5 unique) and start-up's refusal of weak keys.
STRONG_KEY = "x7!" + "k" * 20 + "Qz9#mP2$vL8@nR4%wT6^yU1&" + "abcdefghij"

PRINT_SETTINGS = """
import json, os, django
django.setup()
from django.conf import settings
from portal.targets import target_for
t = target_for("us-east-1")
print(json.dumps({"debug": settings.DEBUG, "target": settings.ENVPORT_TARGET, "endpoint": t.endpoint_url,
                  "execute": t.execute_api_url_template, "key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
                  "db": str(settings.DATABASES["default"]["NAME"]), "broker": settings.CELERY_BROKER_URL}))
"""


def _run(env: dict[str, str], *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "ENVPORT_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "PYTEST"))
    }
    clean.update(
        {
            "ENVPORT_VAR_DIR": str(tmp_path / "var"),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        },
        **env,
    )
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.heavy
def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        "ENVPORT_ENV": "production",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_ALLOWED_HOSTS": "envport.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    done = _run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.heavy
def test_production_refuses_to_start_without_a_secret_key_or_hosts(tmp_path):
    done = _run(
        {"ENVPORT_ENV": "production", "DJANGO_ALLOWED_HOSTS": "x.example.com"},
        "manage.py",
        "check",
        tmp_path=tmp_path,
    )
    assert done.returncode != 0 and "DJANGO_SECRET_KEY" in done.stderr
    done = _run(
        {"ENVPORT_ENV": "production", "DJANGO_SECRET_KEY": STRONG_KEY},
        "manage.py",
        "check",
        tmp_path=tmp_path,
    )
    assert done.returncode != 0 and "DJANGO_ALLOWED_HOSTS" in done.stderr


@pytest.mark.heavy
def test_local_defaults_never_reach_real_aws(tmp_path):
    """No variables at all: DEBUG, SQLite under var/, the local cloud's endpoint, dummy credentials,
    and the filesystem broker when Redis does not answer (REDIS_URL points at a closed port here)."""
    done = _run({}, "-c", PRINT_SETTINGS, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert values["debug"] is True and values["target"] == "local"
    assert values["endpoint"] == "http://127.0.0.1:4566"
    assert values["execute"] == "http://127.0.0.1:4566/restapis/{api_id}/{stage}/_user_request_"
    assert values["key_id"] == "envport-local"
    assert values["db"] == str(tmp_path / "var" / "envport.sqlite3")
    assert values["broker"] == "filesystem://"
    assert (tmp_path / "var" / "dev-secret-key").stat().st_mode & 0o077 == 0


@pytest.mark.heavy
def test_aws_target_only_when_asked(tmp_path):
    done = _run(
        {"ENVPORT_TARGET": "aws", "AWS_ACCESS_KEY_ID": "AKIAREAL"}, "-c", PRINT_SETTINGS, tmp_path=tmp_path
    )
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert values["endpoint"] is None and values["key_id"] == "AKIAREAL"
    assert values["execute"] == "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"
    done = _run({"ENVPORT_TARGET": "prod-account"}, "-c", PRINT_SETTINGS, tmp_path=tmp_path)
    assert done.returncode != 0 and "ENVPORT_TARGET" in done.stderr


def test_a_local_target_without_an_endpoint_is_refused(settings):
    from portal.targets import target_for

    settings.ENVPORT_TARGET = "local"
    settings.ENVPORT_AWS_ENDPOINT_URL = None
    with pytest.raises(ImproperlyConfigured, match="endpoint"):
        target_for("us-east-1")


# --- the broker -------------------------------------------------------------------------------
def test_broker_choice(tmp_path):
    explicit = choose_broker(
        explicit="redis://other:6379/1", redis_url="redis://x", var_dir=tmp_path, probe=lambda _url: False
    )
    assert (explicit.url, explicit.warning) == ("redis://other:6379/1", None)
    redis = choose_broker(
        explicit=None, redis_url="redis://127.0.0.1:6379/0", var_dir=tmp_path, probe=lambda _u: True
    )
    assert (redis.url, redis.transport_options, redis.warning) == ("redis://127.0.0.1:6379/0", {}, None)
    fallback = choose_broker(
        explicit=None, redis_url="redis://:pw@127.0.0.1:6379/0", var_dir=tmp_path, probe=lambda _u: False
    )
    assert fallback.url == "filesystem://" and fallback.is_filesystem
    queue = Path(fallback.transport_options["data_folder_in"])
    assert queue == tmp_path / "celery" / "queue" and queue.is_dir()
    assert fallback.transport_options["data_folder_out"] == str(queue)
    assert "does not answer" in fallback.warning and "pw" not in fallback.warning


def test_redis_probe_is_a_short_connect():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert redis_answers(f"redis://127.0.0.1:{server.getsockname()[1]}/0")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    assert not redis_answers(f"redis://127.0.0.1:{port}/0")
    assert time.monotonic() - started < 1.0


# --- Celery ---------------------------------------------------------------------------------------
def test_celery_app_configuration():
    from portal import tasks
    from portal.celery import app

    conf = app.conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    for name in (
        "run_deployment_task",
        "scheduled_drift_all",
        "scheduled_health_all",
        "teardown_expired_previews",
        "reap_stale_deployments",
    ):
        assert f"portal.tasks.{name}" in app.tasks
        assert getattr(tasks, name).name == f"portal.tasks.{name}"


@pytest.mark.django_db
def test_beat_schedules_come_from_the_migration():
    from django_celery_beat.models import PeriodicTask

    schedules = {t.task: (t.interval.every, t.interval.period, t.enabled) for t in PeriodicTask.objects.all()}
    assert schedules == {
        "portal.tasks.scheduled_drift_all": (30, "minutes", True),
        "portal.tasks.scheduled_health_all": (5, "minutes", True),
        "portal.tasks.teardown_expired_previews": (1, "hours", True),
        "portal.tasks.reap_stale_deployments": (2, "minutes", True),
        "portal.tasks.scheduled_cost_all": (1, "hours", True),  # issue 21 (portal/costs migration 0001)
        "portal.tasks.scheduled_retained_sweep": (1, "hours", True),  # issue 20 (migration 0010)
    }


@pytest.mark.heavy
@pytest.mark.django_db(transaction=True)
def test_cli_enqueues_the_task_and_follows_it(cli, engine, make_env, eager_celery):
    """The default path: a Celery task (run eagerly here; real workers are tested separately)."""
    make_env("dev1")
    result = cli("provision", "dev1", "--json")
    assert result.code == 0, result.err
    doc = result.json()
    assert doc["status"] == "succeeded" and len(doc["steps"]) == 4 and len(doc["checks"]) == 3


def test_worker_and_beat_announce_the_fallback(settings, caplog):
    from portal.celery import _say_which_broker

    settings.ENVPORT_BROKER_WARNING = "Redis at redis://x does not answer: using kombu's filesystem transport"
    with caplog.at_level(logging.INFO, logger="portal.celery"):
        _say_which_broker()
    assert "filesystem transport" in caplog.text and "local cloud" in caplog.text


def test_logs_never_show_an_api_key_value():
    record = logging.LogRecord(
        "botocore", logging.DEBUG, __file__, 1, "headers %s", ({"x-api-key": "AbCdEf0123456789xyzXYZ"},), None
    )
    RedactSecrets().filter(record)
    assert "AbCdEf0123456789xyzXYZ" not in record.getMessage() and "****" in record.getMessage()


@pytest.mark.heavy
def test_production_never_falls_back_to_a_filesystem_broker(tmp_path):
    """A production worker that starts before Redis answers waits for Redis instead of quietly
    reading a filesystem queue nobody else writes to."""
    env = {
        "ENVPORT_ENV": "production",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_ALLOWED_HOSTS": "envport.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    done = _run(env, "-c", PRINT_SETTINGS, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["broker"] == "redis://127.0.0.1:1/0"
