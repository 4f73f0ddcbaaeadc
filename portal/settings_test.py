"""The test suite's settings: the portal's own (portal/settings.py), with what only tests want.

pytest loads this module (pyproject.toml: pytest-django's DJANGO_SETTINGS_MODULE and --ds). The
processes a test starts (Celery workers, beat, `manage.py` in a subprocess) are given
portal.settings explicitly: they run as they would in production, against the test's database.

- The database: ENVPORT_TEST_DATABASE_URL when set (CI: PostgreSQL; pytest-django creates and drops
  test_<name>), else SQLite (pytest-django's test database in memory); connections are not kept,
  so none outlives the test that opened it. DATABASE_URL is never read here: a developer's own
  database stays out of reach of the suite.
- Passwords hashed with MD5: the users tests make would otherwise cost PBKDF2's 600,000 rounds each.
- Static files without the manifest (no collectstatic before a test run).
- The AWS quota clock runs 100 times faster, and its buckets live in the process: the suite's time
  budget; the limiter's own tests set their rates (ENVPORT_QUOTA_TIME_SCALE and
  ENVPORT_QUOTA_REDIS_URL still win when set).
"""

from __future__ import annotations

from portal.settings import *  # noqa: F403  (the portal's settings, overridden below)
from portal.settings import DEFAULT_DATABASE_URL, _env, database

DATABASES = {"default": database(_env("ENVPORT_TEST_DATABASE_URL", DEFAULT_DATABASE_URL), conn_max_age=0)}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

ENVPORT_QUOTA_TIME_SCALE = float(_env("ENVPORT_QUOTA_TIME_SCALE", "100"))
ENVPORT_QUOTA_REDIS_URL = _env("ENVPORT_QUOTA_REDIS_URL", "")
