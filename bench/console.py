"""Console page timings with a fleet of environments (issue 12, section 6; R-FLEET-1).

Creates N environments (default 1000) with a history each (provisions, verifies and drift checks
with their steps and checks, and audit events) in a fresh database, then renders every console
page R times with Django's test client as an admin and prints one JSON object as its last line:

    {"envs": N, "database": "sqlite", "repeat": R,
     "pages": {"overview": {"p50_ms": ..., "p95_ms": ..., "bytes": ..., "queries": ...}, ...}}

The database is a temporary SQLite file, or PostgreSQL with `--database-url` (or
ENVPORT_TEST_DATABASE_URL / DATABASE_URL); a PostgreSQL database is created as
`<name>_console_bench` next to the one named and dropped afterwards. Pages are timed in this
process (no HTTP server): what is measured is the view, its queries and its template.

    python bench/console.py [--envs 1000] [--repeat 30] [--database-url postgres://...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The checkout the bench runs in: the current directory if it is one (to time another branch's
# pages with this script), else the one holding this file.
ROOT = Path.cwd() if (Path.cwd() / "portal").is_dir() else Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _database(args: argparse.Namespace) -> tuple[str, str]:
    """(url, kind): a temporary SQLite file, or a scratch PostgreSQL database."""
    if not args.database_url:
        folder = tempfile.mkdtemp(prefix="envport-console-bench-")
        return f"sqlite:///{folder}/bench.sqlite3", "sqlite"
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(args.database_url)
    name = (parts.path.lstrip("/") or "envport") + "_console_bench"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name)), "postgresql"


def _drop(url: str) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from django.db import connections

    connections.close_all()
    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def populate(n: int) -> dict[str, Any]:
    """N environments in every state an overview sorts by, each with 3 runs of 12 steps and 3 checks."""
    from portal.models import AuditEvent, CheckResult, Deployment, Environment, Step

    now = timezone_now()
    envs = Environment.objects.bulk_create(
        Environment(
            suffix=f"b{i:04d}",
            stage=("dev", "staging", "prod")[i % 3],
            owner=f"team-{i % 13}",
            status=("failed", "provisioning", "new", "torn_down")[(i // 50) % 4] if i % 50 == 0 else "ready",
            health="down" if i % 97 == 0 else ("degraded" if i % 89 == 0 else "healthy"),
            drift_state="drifted" if i % 61 == 0 else "clean",
            outputs={
                "api_endpoint": f"http://127.0.0.1:4566/restapis/a{i}/dev/_user_request_",
                "api_key_id": "k",
            },
            expires_at=now + dt.timedelta(hours=(i % 200)) if i % 4 == 0 else None,
            artifact_sha256=f"{i % 7:064x}",  # every environment serves code: the release page lists them
        )
        for i in range(n)
    )
    kinds = ("provision", "verify", "drift")
    deps = Deployment.objects.bulk_create(
        Deployment(
            environment=env,
            kind=kinds[r],
            status="failed" if (env.pk + r) % 41 == 0 else "succeeded",
            trigger="schedule" if r == 2 else "cli",
            error="verification failed: 1 of 3 checks" if (env.pk + r) % 41 == 0 else "",
            started_at=now - dt.timedelta(hours=3 - r),
            finished_at=now - dt.timedelta(hours=3 - r) + dt.timedelta(seconds=20 + r),
            calls_by_operation={"apigateway.GetRestApis": 1, "lambda.GetFunction": 2},
        )
        for env in envs
        for r in range(len(kinds))
    )
    Step.objects.bulk_create(
        Step(
            deployment=dep,
            position=s + 1,
            resource=f"resource{s}",
            kind="aws",
            action=("create", "no-op", "update")[s % 3],
            status="succeeded",
            started_offset_s=s * 0.3,
            seconds=0.4,
            calls=3,
        )
        for dep in deps
        for s in range(12)
    )
    CheckResult.objects.bulk_create(
        CheckResult(
            deployment=dep, position=c, name=f"check {c}", passed=True, http_status=200, latency_ms=12.0 + c
        )
        for dep in deps
        if dep.kind != "drift"
        for c in range(3)
    )
    last = {dep.environment_id: dep for dep in deps}
    for env in envs:
        env.last_deployment = last[env.pk]
    Environment.objects.bulk_update(envs, ["last_deployment"], batch_size=500)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor="cli:ops", source="cli", action=action, environment=env, environment_suffix=env.suffix
        )
        for env in envs
        for action in ("environment.created", "deployment.requested.provision")
    )
    return {"environment": envs[len(envs) // 2], "deployment": deps[len(deps) // 2]}


def _busy_quotas() -> None:
    """Two accounts' buckets in use, so the overview's quota panel has rows to render."""
    try:
        from portal.fleet_limits import limiter
    except ImportError:  # a checkout from before the limiter
        return
    found = limiter()
    if found is None:
        return
    for account in ("111111111111", "222222222222"):
        for operation in ("CreateRestApi", "CreateDeployment", "GetResources", "GetRestApi"):
            found.acquire(account, "us-east-1", "apigateway", operation, "operator")


def timezone_now() -> dt.datetime:
    from django.utils import timezone

    return timezone.now()


def pages(subjects: dict[str, Any]) -> dict[str, str]:
    """Every page the console links to, by name: its own views and the admin's changelists."""
    from django.urls import reverse

    env, dep = subjects["environment"], subjects["deployment"]
    envs = reverse("admin:portal_environment_changelist")
    return {
        "overview": reverse("admin:index"),
        "overview page 20": reverse("admin:index") + "?page=20",
        "overview searched": reverse("admin:index") + "?q=team-3",
        "environment list": envs,
        "environment list filtered": envs + "?health__exact=healthy&expiry=7d&q=team-3",
        "environment list page 5": envs + "?p=5",
        "environment page": reverse("admin:portal_environment_change", args=[env.pk]),
        "teardown page": reverse("admin:portal_environment_teardown", args=[env.pk]),
        "release page": reverse("admin:portal_environment_release", args=[env.pk]),
        "deployment list": reverse("admin:portal_deployment_changelist"),
        "deployment page": reverse("admin:portal_deployment_change", args=[dep.pk]),
        "deployment live JSON": reverse("admin:portal_deployment_live", args=[dep.pk]),
        "audit trail": reverse("admin:portal_auditevent_changelist"),
        "audit trail filtered": reverse("admin:portal_auditevent_changelist") + "?source__exact=cli",
        "artifact list": reverse("admin:portal_artifact_changelist"),
        "step list": reverse("admin:portal_step_changelist"),
        "check list": reverse("admin:portal_checkresult_changelist"),
        "finding list": reverse("admin:portal_driftfinding_changelist"),
    }


def measure(client: Any, url: str, repeat: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm-up: per-process caches (templates, content types, the session)
    times, size, queries = [], 0, 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        size, queries = len(response.content), len(ctx.captured_queries)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 1),
        "bytes": size,
        "queries": queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", default="", help="comma-separated page names (default: every page)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ENVPORT_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or "",
        help="PostgreSQL to bench on (a scratch database beside it); default: a temporary SQLite file",
    )
    args = parser.parse_args()
    url, kind = _database(args)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": url,
            "ENVPORT_QUOTA_REDIS_URL": "",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    settings.ALLOWED_HOSTS = ["*"]
    settings.ENVPORT_QUOTA_REDIS_URL = ""  # the process's own buckets: nobody else's Redis is read
    _busy_quotas()
    setup_test_environment(debug=False)  # as the test suite runs: no query log kept between pages
    try:
        call_command("migrate", verbosity=0, interactive=False)
        t0 = time.perf_counter()
        subjects = populate(args.envs)
        made_s = time.perf_counter() - t0
        admin = User.objects.create_superuser("bench", "bench@example.com", "bench-pw")
        client = Client()
        client.force_login(admin)
        wanted = [p.strip() for p in args.only.split(",") if p.strip()]
        result = {
            name: measure(client, page, args.repeat)
            for name, page in pages(subjects).items()
            if not wanted or name in wanted
        }
    finally:
        if kind == "postgresql":
            _drop(url)
    print(
        json.dumps(
            {
                "envs": args.envs,
                "database": kind,
                "repeat": args.repeat,
                "populate_s": round(made_s, 1),
                "pages": result,
            }
        )
    )


if __name__ == "__main__":
    main()
