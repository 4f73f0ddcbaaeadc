"""Start-up refuses what would silently run an insecure portal (issue 8, section 2).

Settings are loaded in a subprocess, as a server would load them, so each case sees exactly
the environment it sets and nothing this test process has imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_settings_celery import STRONG_KEY, _run

COMPOSE_DEMO_KEY = "compose-demo-only-7kQ2xR9mW4pZ1vL8tN3bY6cH0jD5sGfE-change-me"
PRODUCTION = {
    "ENVPORT_ENV": "production",
    "DJANGO_ALLOWED_HOSTS": "envport.example.com",
    "DJANGO_SECRET_KEY": STRONG_KEY,
}
SHOW_DEBUG = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


@pytest.mark.heavy
@pytest.mark.parametrize("value", ["prod", "Production", "PRODUCTION", "staging", "dev", "developement"])
def test_unknown_envport_env_refuses_to_start(tmp_path: Path, value: str) -> None:
    """probe: ENVPORT_ENV=prod (or Production) started the portal with DEBUG on."""
    done = _run({**PRODUCTION, "ENVPORT_ENV": value}, "-c", SHOW_DEBUG, tmp_path=tmp_path)
    assert done.returncode != 0, done.stdout
    assert "ImproperlyConfigured" in done.stderr
    assert f"ENVPORT_ENV={value!r} is not known: use development or production" in done.stderr


@pytest.mark.heavy
@pytest.mark.parametrize(("value", "debug"), [("production", "False"), ("development", "True")])
def test_the_two_known_environments_start(tmp_path: Path, value: str, debug: str) -> None:
    done = _run({**PRODUCTION, "ENVPORT_ENV": value}, "-c", SHOW_DEBUG, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == debug


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (COMPOSE_DEMO_KEY, "public demo key from docker-compose.yml"),
        ("django-insecure-" + "q8#Lm2!vX9zR4wT7yB1nC6pK3sD0fG5hJ" * 2, "django-insecure-"),
        ("Sh0rt-but-varied-key!", "21 characters"),
        ("s" * 60, "1 of them different"),
    ],
    ids=["compose-demo", "django-insecure", "short", "one-character"],
)
def test_production_refuses_a_public_generated_or_short_secret_key(
    tmp_path: Path, key: str, reason: str
) -> None:
    """probe: docker compose up ran ENVPORT_ENV=production with the public default key it ships."""
    done = _run({**PRODUCTION, "DJANGO_SECRET_KEY": key}, "-c", SHOW_DEBUG, tmp_path=tmp_path)
    assert done.returncode != 0, done.stdout
    assert "DJANGO_SECRET_KEY is not fit for production" in done.stderr and reason in done.stderr
    assert key not in done.stderr, "the message must not echo the key"


@pytest.mark.heavy
def test_production_with_debug_forced_on_still_refuses_a_weak_key(tmp_path: Path) -> None:
    env = {**PRODUCTION, "DJANGO_DEBUG": "true", "DJANGO_SECRET_KEY": COMPOSE_DEMO_KEY}
    done = _run(env, "-c", SHOW_DEBUG, tmp_path=tmp_path)
    assert done.returncode != 0 and "DJANGO_SECRET_KEY is not fit for production" in done.stderr


@pytest.mark.heavy
def test_development_accepts_any_key(tmp_path: Path) -> None:
    env = {"ENVPORT_ENV": "development", "DJANGO_SECRET_KEY": "short"}
    done = _run(env, "-c", SHOW_DEBUG, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
