"""Running a pipeline's package-handling tools with nothing of the portal's: the build sandbox.

An artifact build handles what a pipeline sent (a requirements.txt, a package's modules), and the
portal's process holds what that input must never reach: AWS keys, the database URL, Django's
secret key. So the two things a build runs besides zipping, pip and the import check, run in a
child process that

- gets an environment built from an allow-list (`sandbox_env`): PATH and the locale, a HOME and
  TMPDIR of its own inside the build's temporary folder, and what the caller adds (pip's
  settings). Nothing else of `os.environ` crosses, whatever it is called;
- runs under resource limits set in the child before it starts (`resource.setrlimit`): CPU
  seconds, address space, the largest file it may write, plus a wall-clock deadline enforced by
  the parent, which then kills the child's whole process group;
- reports a limit it hit as `SandboxLimit` naming the limit, so the caller's refusal says what
  was exceeded and what is allowed instead of a traceback.

The limits are `resource` ones (Linux's RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE), see
https://docs.python.org/3/library/resource.html and setrlimit(2).
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# What a child may see of the parent's environment, by name: enough to find programs and decode
# text. Everything else (AWS_*, DATABASE_URL, DJANGO_SECRET_KEY, ENVPORT_*, PIP_*...) stays out.
ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
MIB = 1024 * 1024
_EFBIG = os.strerror(errno.EFBIG).encode()


class SandboxLimit(Exception):
    """The child went over one of its limits and was stopped; `limit` says which, in words."""

    def __init__(self, limit: str):
        self.limit = limit
        super().__init__(limit)


@dataclass(frozen=True)
class Limits:
    """What one child may use: CPU seconds, address space and largest written file (bytes), and
    the wall-clock seconds the parent waits before killing it."""

    cpu_s: int
    memory_bytes: int
    file_bytes: int
    wall_s: float

    def describe(self) -> str:
        return (
            f"{self.cpu_s} s of CPU, {self.memory_bytes // MIB} MB of memory, "
            f"files of {self.file_bytes // MIB} MB and {self.wall_s:g} s in all"
        )


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


def sandbox_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's whole environment: the allow-listed names, its own HOME and TMPDIR, `extra`."""
    env = {name: os.environ[name] for name in ALLOWED_ENV if name in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update({"HOME": str(home), "TMPDIR": str(tmp), "PYTHONNOUSERSITE": "1"})
    env.update(extra or {})
    return env


def _limiter(limits: Limits) -> Callable[[], None]:
    """What the child runs between fork and exec: only `resource.setrlimit` calls on values
    computed before the fork (nothing that takes a lock another thread of the parent could hold)."""
    cpu = (limits.cpu_s, limits.cpu_s + 5)  # the soft limit sends SIGXCPU, the hard one SIGKILL
    memory = (limits.memory_bytes, limits.memory_bytes)
    size = (limits.file_bytes, limits.file_bytes)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, cpu)
        resource.setrlimit(resource.RLIMIT_AS, memory)
        resource.setrlimit(resource.RLIMIT_FSIZE, size)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_limited(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    limits: Limits,
    cwd: Path,
    stdin: bytes = b"",
) -> Finished:
    """Run `argv` in its own session under `limits`; SandboxLimit if it went over one.

    A MemoryError in a Python child (the address-space limit) is reported as the memory limit;
    SIGXCPU/SIGKILL after the CPU limit as the CPU limit; SIGXFSZ as the file-size limit.
    """
    process = subprocess.Popen(  # argv is ours, never the input's
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        preexec_fn=_limiter(limits),  # only setrlimit calls, see _limiter
        start_new_session=True,
        close_fds=True,
    )
    try:
        stdout, stderr = process.communicate(stdin, timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        raise SandboxLimit(f"the wall-clock limit of {limits.wall_s:g} s") from None
    code = process.returncode
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        raise SandboxLimit(f"the CPU limit of {limits.cpu_s} s")
    # Python ignores SIGXFSZ: its write fails with EFBIG ("File too large") instead.
    if code == -signal.SIGXFSZ or (code != 0 and _EFBIG in stderr[-4096:]):
        raise SandboxLimit(f"the file-size limit of {limits.file_bytes // MIB} MB")
    if code != 0 and b"MemoryError" in stderr[-4096:]:
        raise SandboxLimit(f"the memory limit of {limits.memory_bytes // MIB} MB")
    return Finished(code, stdout, stderr)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return


__all__ = ["ALLOWED_ENV", "Finished", "Limits", "SandboxLimit", "run_limited", "sandbox_env"]
