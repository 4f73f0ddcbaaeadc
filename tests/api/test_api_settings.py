"""The rate limit's counters: in Redis in production (shared by every web process, so a token's
budget is one budget), in process memory in development. Loaded in a subprocess, as a server
would load them (the helpers of tests/portal/test_settings_celery.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.portal.test_settings_celery import STRONG_KEY, _run

SHOW_CACHE = (
    "import django; django.setup(); from django.conf import settings; "
    "c = settings.CACHES['default']; print(c['BACKEND'], c.get('LOCATION'))"
)


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("envport_env", "expected"),
    [
        ("production", "django.core.cache.backends.redis.RedisCache redis://10.0.0.5:6379/3"),
        ("development", "django.core.cache.backends.locmem.LocMemCache envport"),
    ],
)
def test_the_throttle_counts_in_redis_in_production(tmp_path: Path, envport_env: str, expected: str) -> None:
    env = {
        "ENVPORT_ENV": envport_env,
        "DJANGO_ALLOWED_HOSTS": "envport.example.com",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "REDIS_URL": "redis://10.0.0.5:6379/3",
        "CELERY_BROKER_URL": "redis://10.0.0.5:6379/3",
    }
    done = _run(env, "-c", SHOW_CACHE, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected
