"""Shared test set-up: no test may ever reach a real AWS account."""

import os

import pytest

# Dummy credentials and a fixed region, set before boto3 is imported anywhere, so that a
# test that forgot its moto fixture fails against an unreachable endpoint rather than
# touching a real account with credentials from the developer's environment.
for _key, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_key] = _value
for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_key, None)

# Under pytest-xdist each worker process gets a Redis database of its own (the quota, shared-read
# and worker tests flush or fill theirs), unless the caller chose one. pytest-django already gives
# each worker its own test database (test_envport_gw0, ...).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and not os.environ.get("ENVPORT_TEST_REDIS_URL"):
    os.environ["ENVPORT_TEST_REDIS_URL"] = f"redis://127.0.0.1:6379/{2 + int(_WORKER[2:]) % 10}"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Every test starts with an empty cache: the failed-authentication counters are per client
    address (127.0.0.1 for every test client), the rate and upload counters per token, so one
    test's refusals must not lock the next test out."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()
