"""The function's deterministic zip and its import check (R-FN-2)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioning.artifacts import artifact_from_directory, default_artifact
from provisioning.bundle import (
    DEFAULT_ROOT,
    PACKAGE,
    BundleError,
    check_bundle,
    collect_package,
    deterministic_zip,
)
from provisioning.names import HANDLER

HANDLER_SOURCE = "from . import helper\n\n\ndef lambda_handler(event, context):\n    return helper.VALUE\n"


def make_bundle(root: Path, files: dict[str, str]) -> Path:
    """A package folder holding `files` (relative path -> source), plus a handler unless given."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"__init__.py": "", "handler.py": HANDLER_SOURCE, "helper.py": "VALUE = 1\n", **files}
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


@dataclass(frozen=True)
class Bundle:
    """A zip of a package's own modules: its bytes, Lambda's `CodeSha256` for them, its entries."""

    data: bytes
    sha256_b64: str
    files: tuple[str, ...]


def build_bundle(root: Path | None = None) -> Bundle:
    """The parts every artifact is built from (`artifacts.artifact_from_directory` adds the vendored
    requirements): the package's sources collected under the handler's package, checked, zipped."""
    sources = collect_package(DEFAULT_ROOT if root is None else root, PACKAGE)
    check_bundle(sources, handler=HANDLER)
    data = deterministic_zip(sources)
    return Bundle(
        data, base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"), tuple(sorted(sources))
    )


def entries(bundle: Bundle) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as zf:
        return zf.infolist()


# --- determinism ---


def test_same_source_gives_same_bytes_and_hash(tmp_path: Path) -> None:  # R-FN-2
    root = make_bundle(tmp_path / "lambda_bundle", {})
    first, second = build_bundle(root), build_bundle(root)
    assert first.data == second.data
    assert first.sha256_b64 == second.sha256_b64
    # A copy elsewhere (other path, other ctime/inode) gives the same bytes too.
    copy = shutil.copytree(root, tmp_path / "elsewhere" / "lambda_bundle")
    assert build_bundle(copy).data == first.data


def test_touching_mtime_or_mode_does_not_change_the_hash(tmp_path: Path) -> None:  # R-FN-2
    root = make_bundle(tmp_path / "lambda_bundle", {})
    before = build_bundle(root).sha256_b64
    os.utime(root / "handler.py", (2_000_000_000, 2_000_000_000))
    (root / "helper.py").chmod(0o600)
    assert build_bundle(root).sha256_b64 == before


def test_changing_content_changes_the_hash(tmp_path: Path) -> None:  # R-FN-2
    root = make_bundle(tmp_path / "lambda_bundle", {})
    before = build_bundle(root).sha256_b64
    (root / "helper.py").write_text("VALUE = 2\n")
    assert build_bundle(root).sha256_b64 != before


def test_sha256_b64_is_lambdas_code_sha256(tmp_path: Path) -> None:
    import base64
    import hashlib

    bundle = build_bundle(make_bundle(tmp_path / "lambda_bundle", {}))
    assert bundle.sha256_b64 == base64.b64encode(hashlib.sha256(bundle.data).digest()).decode()


def test_entries_are_sorted_with_fixed_time_mode_and_compression(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "src", {"sub/__init__.py": "", "sub/deep.py": "X = 1\n"})
    bundle = build_bundle(root)
    infos = entries(bundle)
    names = [i.filename for i in infos]
    assert names == sorted(names) == list(bundle.files)
    # The folder at the top of the zip is the handler's package, whatever the source folder is called.
    assert all(name.startswith(f"{PACKAGE}/") for name in names)
    assert f"{PACKAGE}/sub/deep.py" in names
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644
        assert stat.S_ISREG(info.external_attr >> 16)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.create_system == 3


def test_caches_tests_and_non_python_files_are_left_out(tmp_path: Path) -> None:
    root = make_bundle(
        tmp_path / "lambda_bundle",
        {
            "tests/test_handler.py": "import pytest\n",
            "test_local.py": "import pytest\n",
            "conftest.py": "import pytest\n",
            "notes.txt": "not code",
        },
    )
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"\x00compiled")
    (root / "__pycache__" / "stray.py").write_text("import requests\n")
    bundle = build_bundle(root)
    assert bundle.files == (
        "lambda_bundle/__init__.py",
        "lambda_bundle/handler.py",
        "lambda_bundle/helper.py",
    )


# --- "nothing it imports is missing from the zip" ---


@pytest.mark.parametrize(
    "source, named",
    [
        ("import requests\n", "'requests'"),
        ("from requests.adapters import HTTPAdapter\n", "'requests'"),
        ("from provisioning.names import HANDLER\n", "'provisioning'"),
        ("import provisioning\n", "'provisioning'"),
        ("def f():\n    import yaml\n", "'yaml'"),  # an import inside a function runs too
        ("import distutils\n", "'distutils'"),  # in 3.11's stdlib, gone from the python3.12 runtime
    ],
)
def test_checker_rejects_what_runtime_and_zip_lack(tmp_path: Path, source: str, named: str) -> None:
    root = make_bundle(tmp_path / "lambda_bundle", {"extra.py": source})
    with pytest.raises(BundleError) as info:
        build_bundle(root)
    message = str(info.value)
    assert "lambda_bundle/extra.py" in message and named in message


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from .missing import thing\n", "lambda_bundle.missing"),
        ("from . import nowhere\n", "'nowhere'"),
        ("from .helper import NOT_DEFINED\n", "'NOT_DEFINED'"),
        ("from ... import helper\n", "reaches above"),
        ("import lambda_bundle.ghost\n", "lambda_bundle.ghost"),
    ],
)
def test_checker_resolves_imports_inside_the_bundle(tmp_path: Path, source: str, expected: str) -> None:
    root = make_bundle(tmp_path / "lambda_bundle", {"extra.py": source})
    with pytest.raises(BundleError) as info:
        build_bundle(root)
    assert "lambda_bundle/extra.py" in str(info.value) and expected in str(info.value)


def test_checker_accepts_stdlib_boto3_relative_and_type_checking_imports(tmp_path: Path) -> None:
    source = (
        "from __future__ import annotations\n"
        "import json, os.path\n"
        "from typing import TYPE_CHECKING\n"
        "import boto3\n"
        "from botocore.config import Config\n"
        "from . import helper\n"
        "from .helper import VALUE\n"
        "from .sub.deep import X\n"
        "import lambda_bundle.helper\n"
        "if TYPE_CHECKING:\n"
        "    from mypy_boto3_dynamodb import DynamoDBClient\n"
    )
    root = make_bundle(
        tmp_path / "lambda_bundle",
        {"extra.py": source, "sub/__init__.py": "", "sub/deep.py": "from .. import helper\nX = 1\n"},
    )
    assert "lambda_bundle/extra.py" in build_bundle(root).files


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "lambda_bundle", {"a.py": "import requests\n", "b.py": "import yaml\n"})
    with pytest.raises(BundleError) as info:
        build_bundle(root)
    assert len(info.value.problems) == 2


def test_a_missing_handler_is_refused(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "lambda_bundle", {"handler.py": "def other(event, context):\n    pass\n"})
    with pytest.raises(BundleError, match="defines no 'lambda_handler'"):
        build_bundle(root)
    (root / "handler.py").unlink()
    with pytest.raises(BundleError, match=r"lambda_bundle\.handler"):
        build_bundle(root)


def test_a_syntax_error_is_refused(tmp_path: Path) -> None:
    root = make_bundle(tmp_path / "lambda_bundle", {"broken.py": "def (:\n"})
    with pytest.raises(BundleError, match=r"lambda_bundle/broken\.py:1: does not parse"):
        build_bundle(root)


# --- the project's real bundle ---


def test_real_bundle_needs_its_vendored_requirements() -> None:  # R-FN-2
    """lambda_bundle/ imports Powertools: the source-only zip is refused, naming the module."""
    with pytest.raises(BundleError, match="aws_lambda_powertools"):
        build_bundle()


@pytest.mark.heavy
def test_real_bundle_builds_and_holds_the_handler() -> None:  # R-FN-1, R-FN-2
    bundle = default_artifact()
    assert "lambda_bundle/handler.py" in bundle.files
    assert "aws_lambda_powertools/logging/logger.py" in bundle.files  # vendored by the build
    assert artifact_from_directory(DEFAULT_ROOT).data == bundle.data  # rebuilt: the same bytes
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in bundle.files)


@pytest.mark.heavy
def test_real_bundle_imports_from_the_zip_alone(tmp_path: Path) -> None:  # R-FN-2
    """Extract the zip where nothing of the repository is on the path, and import the handler;
    Powertools comes from the zip (PYTHONPATH wins over the venv's copy)."""
    with zipfile.ZipFile(io.BytesIO(default_artifact().data)) as zf:
        zf.extractall(tmp_path)
    code = (
        "import os, sys; "
        "sys.path = [p for p in sys.path if not os.path.isdir(os.path.join(p, 'provisioning'))]; "
        "import importlib.util; assert importlib.util.find_spec('provisioning') is None; "
        "import lambda_bundle.handler as h; print(h.__file__); assert callable(h.lambda_handler); "
        "import aws_lambda_powertools as p; print(p.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        str(tmp_path / "lambda_bundle" / "handler.py"),
        str(tmp_path / "aws_lambda_powertools" / "__init__.py"),
    ]
