"""The isolation of a worker process, as close to Lambda's Python sandbox as a plain process gets.

- The interpreter starts with ``-I -S``: no PYTHON* variables, no user site, no site-packages of the
  local cloud, and not the worker script's directory. The worker (``worker.py``) then sets
  ``sys.path`` to ``[LAMBDA_TASK_ROOT, runtime libraries, standard library]``, Lambda's order
  (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html, "Dependency search path"): a
  package the artifact does not vendor fails with ``Runtime.ImportModuleError`` locally as on AWS.
- The runtime libraries are what the Lambda python3.12 runtime ships in ``/var/runtime`` besides the
  standard library: boto3, botocore, s3transfer, jmespath, python-dateutil, urllib3 and six, at the
  versions that runtime has (``localcloud/runtime-requirements.txt``, which cites its source), installed by
  ``make venv`` into their own folder (``var/lambda-runtime/python3.12``, or ``LOCALCLOUD_RUNTIME_DIR``)
  and nothing else: the local cloud's own boto3 (requirements.txt) is never on the function's path.
  A missing or out-of-date folder is an error that says how to install it, not a fallback to the
  local cloud's versions (that would pass a function that needs a newer SDK than Lambda's).
- The code directory is read-only: a write under it fails with ``OSError(EROFS)`` "Read-only file
  system", as on ``/var/task`` (an audit hook in the worker enforces it, since the local cloud may run
  as root, whom file modes do not stop; Python's own bytecode cache is let through).
- ``/tmp`` is a directory of the worker's own (``TMPDIR``; ``tempfile`` uses it), removed with the
  worker, and capped at the function's EphemeralStorage (512 MB by default): see ``worker._cap_tmp``
  for how (RLIMIT_FSIZE recomputed by an audit hook, no privileges needed) and what it does not catch.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import uuid

# What the Lambda Python runtime provides on its path besides the standard library.
RUNTIME_LIBRARIES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_LOCALCLOUD = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# In localcloud/, where the Makefile and the Dockerfile install from it.
RUNTIME_REQUIREMENTS = os.path.join(_LOCALCLOUD, "runtime-requirements.txt")
RUNTIME_DIR_ENV = "LOCALCLOUD_RUNTIME_DIR"
DEFAULT_RUNTIME_DIR = os.path.join(os.path.dirname(_LOCALCLOUD), "var", "lambda-runtime", "python3.12")
_checked: set[str] = set()
_lock = threading.Lock()


class RuntimeLibrariesMissing(RuntimeError):
    """The runtime's libraries are not installed at the pinned versions (run ``make venv``)."""


def pinned_versions() -> dict[str, str]:
    """Distribution name -> version, as ``runtime-requirements.txt`` pins them."""
    pins: dict[str, str] = {}
    with open(RUNTIME_REQUIREMENTS, encoding="utf-8") as requirements:
        for line in requirements:
            text = line.split("#", 1)[0].strip()
            if "==" in text:
                name, version = text.split("==", 1)
                pins[name.strip()] = version.strip()
    return pins


def _dist_info(name: str, version: str) -> str:
    # Wheel metadata folders normalise the name: python-dateutil -> python_dateutil.
    return f"{name.replace('-', '_')}-{version}.dist-info"


def runtime_libraries(work_dir: str | None = None) -> str:
    """The folder holding the runtime's libraries, checked once against the pinned versions.

    ``work_dir`` is unused (kept for callers): the folder is shared by every worker, read-only to them.
    """
    target = os.path.abspath(os.environ.get(RUNTIME_DIR_ENV) or DEFAULT_RUNTIME_DIR)
    with _lock:
        if target in _checked:
            return target
        missing = [
            f"{name}=={version}"
            for name, version in pinned_versions().items()
            if not os.path.isdir(os.path.join(target, _dist_info(name, version)))
        ]
        if missing:
            raise RuntimeLibrariesMissing(
                f"the Lambda python3.12 runtime's libraries are not installed in {target} "
                f"(missing: {', '.join(missing)}); run `make venv`, or `pip install --no-deps --target "
                f"{target} -r {RUNTIME_REQUIREMENTS}`, or set {RUNTIME_DIR_ENV} to a folder that has them"
            )
        _checked.add(target)
    return target


def worker_command(worker_script: str, task_root: str, libraries: str, tmp_limit: int = 0) -> list[str]:
    """The isolated interpreter's command line for one worker (``tmp_limit``: bytes, 0 for no cap)."""
    return [
        sys.executable,
        "-I",
        "-S",
        "-u",
        worker_script,
        "--task-root",
        task_root,
        "--runtime-libs",
        libraries,
        "--tmp-limit",
        str(tmp_limit),
    ]


def new_tmp_dir(work_dir: str) -> str:
    """A fresh ``/tmp`` for one worker."""
    path = os.path.join(work_dir, "tmp", uuid.uuid4().hex)
    os.makedirs(path)
    return path


def remove_tmp_dir(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)
