"""Helpers of the worker tests: start envport's processes (and the local cloud) in process groups of
their own, with logs in files, against the test's database and a Redis database of their own.
Fixtures built on them are in conftest.py."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

DEFAULT_TEST_REDIS_DB = 5
# Short heartbeats and a short staleness limit, so the reaper acts within seconds.
HEARTBEAT_S = 0.5
STALE_AFTER_S = 3.0
# A test's worker serves every queue the settings declare (runs, sweeps and notifications), as one
# worker of a small portal does; `make up` and compose run notifications on a worker of their own.
WORKER_QUEUES = "runs,sweeps,notifications"


def database_url() -> str:
    """The URL of the database this test process uses (the test database), for other processes."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            raise RuntimeError("an in-memory SQLite test database is invisible to other processes")
        return f"sqlite:///{Path(name).resolve()}"
    if "postgresql" not in db["ENGINE"]:
        raise RuntimeError(f"no URL for the database engine {db['ENGINE']}")
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}"


def redis_test_url() -> str:
    explicit = os.environ.get("ENVPORT_TEST_REDIS_URL", "").strip()
    if explicit:
        return explicit
    base = urlsplit(os.environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0")
    return urlunsplit((base.scheme, base.netloc, f"/{DEFAULT_TEST_REDIS_DB}", "", ""))


# --- processes -----------------------------------------------------------------------------------
def wait_for(
    what: str, predicate: Callable[[], Any], timeout: float, interval: float = 0.1, on_fail: str = ""
) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}{on_fail}")
        time.sleep(interval)


def base_env() -> dict[str, str]:
    """This process's environment without anything that configures envport, AWS or pytest."""
    prefixes = ("AWS_", "ENVPORT_", "DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "PYTEST", "FORKED_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    err_log: Path | None = None  # stderr, when kept apart from stdout

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def err(self) -> str:
        if self.err_log is None:
            return ""
        try:
            return self.err_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the group, then SIGKILL after `grace` seconds; reaps the leader and waits for
        the rest of the group to go."""
        if self.alive():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        self.kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        _wait_group_gone(self.popen.pid)

    def wait_log(self, needle: str, timeout: float) -> None:
        def seen() -> bool:
            if needle in self.text():
                return True
            if not self.alive():
                pytest.fail(
                    f"{self.name} exited ({self.popen.returncode}) before logging {needle!r}:\n"
                    + self.text()[-4000:]
                )
            return False

        wait_for(f"{self.name} to log {needle!r}", seen, timeout, on_fail="\n" + self.text()[-4000:])


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it if the test process dies without its teardown (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.05)


@dataclass
class Processes:
    """Starts processes in their own groups with logs in `folder`; `stop_all` ends every one."""

    folder: Path
    started: list[Proc] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], *, split: bool = False) -> Proc:
        """Start `args`; output to NAME.log (stderr to NAME.stderr.log with `split`)."""
        log = self.folder / f"{name}.log"
        n = 2
        while log.exists():
            log, n = self.folder / f"{name}-{n}.log", n + 1
        err_log = log.with_suffix(".stderr.log") if split else None
        with contextlib.ExitStack() as files:
            out = files.enter_context(open(log, "wb"))
            err = files.enter_context(open(err_log, "wb")) if err_log else subprocess.STDOUT
            popen = subprocess.Popen(
                args,
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: killpg reaches its children
                preexec_fn=_die_with_parent,
            )
        proc = Proc(log.stem, popen, log, err_log)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.stop()

    def dump(self) -> str:
        parts = []
        for proc in self.started:
            parts.append(f"----- {proc.name} (pid {proc.pid}, exit {proc.popen.poll()}) {proc.log} -----")
            parts.append(proc.text()[-20000:])
            if proc.err_log is not None:
                parts.append(f"----- {proc.name} stderr -----\n{proc.err()[-20000:]}")
        return "\n".join(parts)


@dataclass
class Cloud:
    endpoint_url: str
    region: str = "us-east-1"

    @property
    def stage_url_template(self) -> str:
        return self.endpoint_url + "/restapis/{api_id}/{stage}/_user_request_"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


# --- envport processes -------------------------------------------------------------------------
@dataclass
class Portal:
    """Starts envport's processes against the test's database, the test Redis and the local cloud."""

    procs: Processes
    cloud: Cloud
    redis_url: str
    db_url: str
    var_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = base_env()
        env.update(
            {
                "DATABASE_URL": self.db_url,
                "REDIS_URL": self.redis_url,
                "ENVPORT_TARGET": "local",
                "AWS_ENDPOINT_URL": self.cloud.endpoint_url,
                "ENVPORT_EXECUTE_API_URL": self.cloud.stage_url_template,
                "ENVPORT_HEARTBEAT_SECONDS": str(HEARTBEAT_S),
                "ENVPORT_STALE_AFTER_SECONDS": str(STALE_AFTER_S),
                "ENVPORT_VAR_DIR": str(self.var_dir),
                "ENVPORT_LOG_LEVEL": "INFO",
                # The workers share one quota limiter in Redis; its clock runs as fast as in-process
                # tests' (settings: 100 under pytest), so the suite keeps its time budget.
                "ENVPORT_QUOTA_TIME_SCALE": "100",
            }
        )
        env.update(extra)
        return env

    def worker(
        self,
        name: str = "worker",
        *,
        pool: str = "prefork",
        ready: bool = True,
        queues: str = WORKER_QUEUES,
        **env: str,
    ) -> Proc:
        """`celery -A portal worker -Q QUEUES` with one process; returns once it says it is ready."""
        proc = self.procs.start(
            name,
            [
                *_celery(),
                "-A",
                "portal",
                "worker",
                "-Q",
                queues,
                f"--pool={pool}",
                "--concurrency=1",
                "--loglevel=info",
                f"--hostname={name}-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            self.env(**env),
        )
        if ready:
            proc.wait_log(" ready.", timeout=60)
        return proc

    def beat(self, name: str = "beat", **env: str) -> Proc:
        proc = self.procs.start(
            name,
            [
                *_celery(),
                "-A",
                "portal",
                "beat",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--loglevel=info",
                "--max-interval=1",
            ],
            self.env(**env),
        )
        proc.wait_log("beat: Starting", timeout=60)
        return proc

    def cli(self, name: str, *args: str) -> Proc:
        """`manage.py ARGS` in the background (stdout and stderr apart); `finish(proc)` waits for it."""
        return self.procs.start(
            name, [sys.executable, str(ROOT / "manage.py"), *args], self.env(), split=True
        )


def _celery() -> list[str]:
    exe = BIN / "celery"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "celery"]


def finish(proc: Proc, timeout: float) -> tuple[int, str, str]:
    """Wait for a process to exit: its exit code, stdout and stderr."""
    try:
        code = proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.name} did not finish within {timeout:.0f} s:\n{proc.text()[-4000:]}{proc.err()}")
    return code, proc.text(), proc.err()
