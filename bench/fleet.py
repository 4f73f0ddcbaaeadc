"""Benchmark a fleet inside AWS's account quotas: K real Celery workers, N environments, one account.

Starts the local cloud with API Gateway's control-plane quotas enforced (`--quotas aws`, its quota
clock `--time-scale` times faster), K Celery worker processes on Redis sharing one rate limiter
(the same time scale), then through the portal's service layer:
1. creates N environments and requests a provision of each (no verification journey: the phase
   measures the control plane), and waits for every run;
2. runs the scheduled drift sweep over all of them (spread 0: every check at once, the worst
   case); a second into it, an operator creates and provisions one more environment;
3. tears everything down (no table backups: the tables are empty).

Per phase: `wall_s` (first request to last finish), `quota_bound_s` (the least time AWS's
quotas allow for the API Gateway calls the local cloud admitted in that phase: per quota class,
the calls beyond its burst over its rate; the largest), `throttled_calls` (429s the local cloud
answered), `failed_runs`. Walls and bounds are in the run's own (scaled) seconds: their ratio is
what counts; multiply by the time scale for AWS's real time. For the drift sweep also the reads
per environment (all, and API Gateway's; each also without the check that fetched the
account-wide lists for the sweep), from each run's recorded calls. `operator_wait_s` is
how long the operator's provision waited: in the queue until a worker took it, plus its calls'
waits for quota tokens. The last line is one JSON object.

    python bench/fleet.py [--envs 20] [--workers 4] [--time-scale 10]

Needs PostgreSQL (`--database-url`, default postgres://postgres@127.0.0.1:5432/envport_fleet_bench,
created and migrated if missing) and Redis (`--redis-url`, default redis://127.0.0.1:6379/12, its
database flushed: give it one of its own).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import awsquotas  # noqa: E402
from provisioning.shared_reads import ACCOUNT_WIDE, WIDENINGS  # noqa: E402

QUOTAS = awsquotas.apigateway().quotas  # AWS API Gateway quotas, as the local cloud enforces them

WAITED = re.compile(r"waited ([0-9.]+) s")


def _count(by_operation: dict[str, int], counted: Callable[[str], bool]) -> int:
    return sum(n for op, n in by_operation.items() if counted(op))


def _printed_url(log: Path, timeout: float) -> str:
    """The URL the local cloud prints once it listens (`export AWS_ENDPOINT_URL=...`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = (
            re.search(r"AWS_ENDPOINT_URL=(\S+)", log.read_text(errors="replace")) if log.exists() else None
        )
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise SystemExit(f"the local cloud printed no URL in {timeout:.0f} s; its log: {log}")


def _env(args: argparse.Namespace, endpoint: str) -> dict[str, str]:
    prefixes = ("AWS_", "ENVPORT_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "LOCALCLOUD_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CELERY_BROKER_URL": args.redis_url,
            "ENVPORT_QUOTA_REDIS_URL": args.redis_url,
            "ENVPORT_QUOTA_TIME_SCALE": str(args.time_scale),
            "ENVPORT_SWEEP_SPREAD": "0",
            "ENVPORT_TARGET": "local",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "ENVPORT_LOG_LEVEL": "WARNING",
            "ENVPORT_HEARTBEAT_SECONDS": "5",
        }
    )
    return env


class Fleet:
    """The processes of the run: the local cloud and the workers, each in its own group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def _wait_until(what: str, predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def quota_bound(calls: list[dict[str, Any]], time_scale: float) -> float:
    """The least time AWS's quotas allow for these admitted API Gateway calls (scaled seconds)."""
    counts: Counter[str] = Counter()
    for call in calls:
        if call["admitted"]:
            counts["*"] += 1
            if call["operation"] in QUOTAS:
                counts[call["operation"]] += 1
    bound = 0.0
    for name, n in counts.items():
        requests, per, burst = QUOTAS[name]
        bound = max(bound, max(0.0, n - burst) / (requests / per * time_scale))
    return round(bound, 2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--envs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/envport_fleet_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per phase, seconds")
    args = parser.parse_args()
    if args.workers < 2:  # with one, the sweep's runs would wait in their queue until --timeout
        parser.error(f"--workers is {args.workers}: at least 2 (worker 0 takes operators' runs only)")

    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    _ensure_database(args.database_url)
    folder = Path(tempfile.mkdtemp(prefix="envport-fleet-"))
    fleet = Fleet(folder)
    # The local cloud binds a port of its own choosing (--port 0) and prints its URL: no port is
    # found free here and then bound there, which another process could take in between.
    fleet.start(
        "localcloud",
        [
            sys.executable,
            "-m",
            "localcloud",
            "--port",
            "0",
            "--quotas",
            "aws",
            "--quota-time-scale",
            str(args.time_scale),
            "--log-level",
            "WARNING",
        ],
        _env(args, ""),
    )
    try:
        endpoint = _printed_url(folder / "localcloud.log", 60)
    except BaseException:
        fleet.stop()
        raise
    env = _env(args, endpoint)
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True
    )

    import django

    django.setup()

    from portal import tasks
    from portal.models import Deployment, Environment
    from portal.services import environments as environment_service
    from portal.services import runs as run_service
    from portal.services import schedules
    from portal.services.base import Actor

    cli = Actor.cli()
    result: dict[str, Any] = {"envs": args.envs, "workers": args.workers, "time_scale": args.time_scale}
    try:
        _wait_until("the local cloud", lambda: _up(endpoint), 60)
        # One worker serves only operators' runs (README "Workers"), the others both queues.
        for i in range(args.workers):
            queues = "runs" if i == 0 else "runs,sweeps"
            fleet.start(
                f"worker{i}",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    queues,
                    "--concurrency=1",
                    "--loglevel=WARNING",
                    "-n",
                    f"fleet{i}@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                env,
            )
        time.sleep(3)

        def phase(deps: list[Deployment], since: float) -> dict[str, Any]:
            pks = [d.pk for d in deps]
            unfinished = Deployment.objects.filter(pk__in=pks, finished_at__isnull=True)
            _wait_until(f"{len(pks)} runs", lambda: not unfinished.exists(), args.timeout)
            rows = list(Deployment.objects.filter(pk__in=pks))
            first = min(d.created_at for d in rows)
            last = max(d.finished_at for d in rows if d.finished_at)
            seen = _get(f"{endpoint}/_localcloud/quotas?since={since}")
            refused = Counter(c["operation"] for c in seen["calls"] if not c["admitted"])
            return {
                "wall_s": round((last - first).total_seconds(), 2),
                "quota_bound_s": quota_bound(seen["calls"], args.time_scale),
                "throttled_calls": seen["throttled"],
                "throttled_by_operation": dict(refused),
                "failed_runs": sum(1 for d in rows if d.status != Deployment.Status.SUCCEEDED),
                "_rows": rows,
            }

        # 1. provision
        since = time.time()
        envs = [
            environment_service.create_environment(
                cli, suffix=f"fl{i}", stage="dev", alarm_emails=["ops@example.com"]
            )
            for i in range(args.envs)
        ]
        deps = []
        for e in envs:
            dep = run_service.request_deployment(cli, e, Deployment.Kind.PROVISION, {"verify": False})
            tasks.enqueue(dep)
            deps.append(dep)
        provision = phase(deps, since)
        provision.pop("_rows")
        print("provision", json.dumps(provision), flush=True)

        # 2. the drift sweep, and an operator's provision in the middle of it
        since = time.time()
        swept = schedules.scheduled_drift_all(tasks.enqueue)
        time.sleep(1.0)
        operator_env = environment_service.create_environment(
            cli, suffix="flop", stage="dev", alarm_emails=["ops@example.com"]
        )
        operator = run_service.request_deployment(
            cli, operator_env, Deployment.Kind.PROVISION, {"verify": False}
        )
        tasks.enqueue(operator)
        drift = phase(swept, since)
        rows = drift.pop("_rows")
        reads = [d.calls_total - d.calls_mutating for d in rows]
        apigw = [
            sum(n for op, n in d.calls_by_operation.items() if op.startswith("apigateway.")) for d in rows
        ]
        drift["reads_per_env"] = round(statistics.mean(reads), 1) if reads else 0
        drift["apigateway_reads_per_env"] = round(statistics.mean(apigw), 1) if apigw else 0
        drift["reads_per_env_after_the_first"] = (
            round(statistics.mean(sorted(reads)[:-1]), 1) if len(reads) > 1 else 0
        )
        # the check that fetched the account-wide lists (GetRestApis, GetUsagePlans, GetAccount,
        # GetApiKeys: once for the sweep) aside, as for reads_per_env_after_the_first
        drift["apigateway_reads_per_env_after_the_first"] = (
            round(statistics.mean(sorted(apigw)[:-1]), 1) if len(apigw) > 1 else 0
        )
        # R-FLEET-2 counts apart the account-wide lists a sweep reads once per account and region
        # (GetRestApis, GetUsagePlans, GetAccount; GetApiKeys widened to the whole account) and
        # the reads each environment makes of its own
        shared_ops = {op for op in (*ACCOUNT_WIDE, *WIDENINGS) if op.startswith("apigateway.")}
        own = [
            _count(d.calls_by_operation, lambda op: op.startswith("apigateway.") and op not in shared_ops)
            for d in rows
        ]
        drift["apigateway_own_reads_per_env"] = round(statistics.mean(own), 1) if own else 0
        drift["apigateway_account_wide_reads_per_sweep"] = sum(
            n for d in rows for op, n in d.calls_by_operation.items() if op in shared_ops
        )
        _wait_until(
            "the operator's run", lambda: Deployment.objects.get(pk=operator.pk).finished_at, args.timeout
        )
        operator.refresh_from_db()
        queued_s = (operator.started_at - operator.created_at).total_seconds() if operator.started_at else 0.0
        quota_s = sum(float(m.group(1)) for s in operator.steps.all() for m in [WAITED.search(s.detail)] if m)
        result["provision"] = provision
        result["drift"] = drift
        print("drift", json.dumps(drift), flush=True)

        # 3. teardown
        since = time.time()
        deps = []
        for e in Environment.objects.filter(suffix__startswith="fl").order_by("suffix"):
            dep = run_service.request_deployment(cli, e, Deployment.Kind.TEARDOWN, {"backup": False})
            tasks.enqueue(dep)
            deps.append(dep)
        teardown = phase(deps, since)
        teardown.pop("_rows")
        result["teardown"] = teardown
        result["operator_wait_s"] = round(queued_s + quota_s, 2)
        result["operator_run"] = {
            "status": operator.status,
            "queued_s": round(queued_s, 2),
            "quota_wait_s": round(quota_s, 2),
            "wall_s": round((operator.finished_at - operator.created_at).total_seconds(), 2),
        }
        for name in ("provision", "drift", "teardown"):
            part = result[name]
            part["ratio"] = (
                round(part["wall_s"] / part["quota_bound_s"], 2) if part["quota_bound_s"] else None
            )
    finally:
        fleet.stop()
    print(json.dumps(result), flush=True)
    return 0


def _up(endpoint: str) -> bool:
    try:
        return bool(_get(f"{endpoint}/_localcloud/health")["status"] == "ok")
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
