"""The isolation of a worker process, as close to Lambda's Python sandbox as a plain process gets.

- The interpreter starts with ``-I -S``: no PYTHON* variables, no user site, no site-packages of the
  local cloud, and not the worker script's directory. The worker (``worker.py``) then sets
  ``sys.path`` to ``[LAMBDA_TASK_ROOT, runtime libraries, standard library]``, Lambda's order
  (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html, "Dependency search path"): a
  package the artifact does not vendor fails with ``Runtime.ImportModuleError`` locally as on AWS.
- The runtime libraries are what the Lambda Python runtime ships besides the standard library:
  boto3, botocore, s3transfer, jmespath, python-dateutil, urllib3 and six, linked from the local
  cloud's own environment. Their versions are the local cloud's (requirements.txt pins boto3), not the
  exact versions of the AWS runtime, which AWS updates on its own schedule; a function that depends
  on a specific boto3 version should vendor it, on AWS too.
- The code directory is read-only: a write under it fails with ``OSError(EROFS)`` "Read-only file
  system", as on ``/var/task`` (an audit hook in the worker enforces it, since the local cloud may run
  as root, whom file modes do not stop; Python's own bytecode cache is let through).
- ``/tmp`` is a directory of the worker's own (``TMPDIR``; ``tempfile`` uses it), removed with the
  worker. Its size is not capped (Lambda caps it at the function's EphemeralStorage, 512 MB by
  default); the cap is documented, not modelled.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import threading
import uuid

# What the Lambda Python runtime provides on its path besides the standard library.
RUNTIME_LIBRARIES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_lock = threading.Lock()


def runtime_libraries(work_dir: str) -> str:
    """A directory holding links to the runtime libraries only (made once per work directory)."""
    target = os.path.join(work_dir, "runtime-libs")
    with _lock:
        if os.path.isdir(target):
            return target
        staging = f"{target}.{uuid.uuid4().hex}"
        os.makedirs(staging)
        for name in RUNTIME_LIBRARIES:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                continue  # not installed here: the function cannot import it either
            source = os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin
            os.symlink(source, os.path.join(staging, os.path.basename(source)))
        os.rename(staging, target)
    return target


def worker_command(worker_script: str, task_root: str, libraries: str) -> list[str]:
    """The isolated interpreter's command line for one worker."""
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
    ]


def new_tmp_dir(work_dir: str) -> str:
    """A fresh ``/tmp`` for one worker."""
    path = os.path.join(work_dir, "tmp", uuid.uuid4().hex)
    os.makedirs(path)
    return path


def remove_tmp_dir(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)
