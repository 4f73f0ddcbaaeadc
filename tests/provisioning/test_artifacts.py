"""Artifacts: deterministic zips addressed by SHA-256, vendored requirements, checks (R-REL-1).

Vendoring runs the real pip offline: the tests write a tiny pure-Python wheel (py3-none-any)
with the zipfile module and point pip at it with `--no-index --find-links`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provisioning import artifacts
from provisioning.artifacts import (
    ARTIFACT_CACHE_ENV,
    PIP_OPTIONS_ENV,
    WHEELHOUSE_ENV,
    Artifact,
    ArtifactError,
    artifact_from_bytes,
    artifact_from_directory,
    artifact_from_zip,
    build_artifact,
    cached_artifact,
    default_artifact,
    pip_command,
    pip_options_from_env,
    source_key,
)
from provisioning.bundle import DEFAULT_ROOT, BundleError, collect_package
from provisioning.names import HANDLER

HANDLER_SOURCE = "from . import helper\n\n\ndef lambda_handler(event, context):\n    return helper.VALUE\n"
USES_TINYLIB = "import tinylib\n\n\ndef lambda_handler(event, context):\n    return tinylib.greet()\n"


def make_package(root: Path, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    files = {"__init__.py": "", "handler.py": HANDLER_SOURCE, "helper.py": "VALUE = 1\n", **(files or {})}
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def make_wheel(directory: Path, name: str = "tinylib", version: str = "1.0") -> Path:
    """A pure-Python wheel written by hand (PEP 427): a module, METADATA, WHEEL and RECORD."""
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"def greet():\n    return 'hello from {name} {version}'\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: envport-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def zip_bytes(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
    return buffer.getvalue()


def names_in(artifact: Artifact) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as zf:
        return zf.namelist()


def entries_of(artifact: Artifact) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def run_handler(artifact: Artifact, where: Path) -> subprocess.CompletedProcess[str]:
    """Extract the zip and call its handler with nothing of the repository on the path."""
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as zf:
        zf.extractall(where)
    module, function = artifact.handler.rsplit(".", 1)
    code = (
        "import os, sys; sys.path = [p for p in sys.path if 'site-packages' in p or 'python3' in p]; "
        f"sys.path.insert(0, {str(where)!r}); import importlib; "
        f"print(importlib.import_module({module!r}).{function}({{}}, None))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=where, env=env, capture_output=True, text=True, timeout=60
    )


# --- building from a folder ---


def test_same_folder_gives_the_same_sha256_twice(tmp_path: Path) -> None:  # R-REL-1
    root = make_package(tmp_path / "myfn")
    first, second = artifact_from_directory(root), artifact_from_directory(root)
    assert first.data == second.data and first.sha256 == second.sha256
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
    copy = shutil.copytree(root, tmp_path / "elsewhere" / "myfn")
    os.utime(copy / "handler.py", (2_000_000_000, 2_000_000_000))
    assert artifact_from_directory(copy).sha256 == first.sha256
    (copy / "helper.py").write_text("VALUE = 2\n")
    assert artifact_from_directory(copy).sha256 != first.sha256


def test_a_folder_is_zipped_under_its_own_name_with_its_record(tmp_path: Path) -> None:  # R-REL-1
    artifact = artifact_from_directory(make_package(tmp_path / "myfn", {"notes.txt": "not code"}))
    assert names_in(artifact) == ["myfn/__init__.py", "myfn/handler.py", "myfn/helper.py"]
    assert artifact.handler == "myfn.handler.lambda_handler"  # the default for a folder
    record = artifact.record()
    assert record == {
        "sha256": artifact.sha256,
        "size_bytes": len(artifact.data),
        "source": str(tmp_path / "myfn"),
        "handler": "myfn.handler.lambda_handler",
        "runtime": "python3.12",
        "architecture": "arm64",
        "built_at": artifact.built_at,
    }
    assert artifact.built_at.endswith("+00:00")
    assert artifact.sha256_b64 == base64.b64encode(hashlib.sha256(artifact.data).digest()).decode()
    assert artifact.key == f"artifacts/{artifact.sha256}.zip"
    assert run_handler(artifact, tmp_path / "run").stdout.strip() == "1"


@pytest.mark.heavy
def test_lambda_bundle_is_the_default_artifact_with_its_pinned_requirements_vendored() -> None:
    # R-REL-1, R-FN-2
    """The default artifact: every file of lambda_bundle/ byte for byte, plus exactly the packages
    lambda_bundle/requirements.txt pins (Powertools and what it needs), built reproducibly."""
    artifact = default_artifact()
    assert artifact.handler == HANDLER and artifact.source == str(DEFAULT_ROOT)
    entries = entries_of(artifact)
    own = collect_package(DEFAULT_ROOT, "lambda_bundle")
    assert {name: entries[name] for name in own} == own
    assert {name for name in entries if name.endswith(".dist-info/METADATA")} == {
        "aws_lambda_powertools-3.37.0.dist-info/METADATA",
        "jmespath-1.1.0.dist-info/METADATA",
        "typing_extensions-4.16.0.dist-info/METADATA",
    }
    assert build_artifact().sha256 == artifact.sha256
    assert artifact_from_directory(DEFAULT_ROOT).data == artifact.data  # no cache: the same bytes


@pytest.mark.heavy
def test_vendored_files_are_the_same_bytes_whichever_venv_builds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-REL-1
    """pip writes console scripts (jmespath's `bin/jp.py`) with a shebang naming the building
    interpreter: the vendored tree must not depend on where the venv lives. A second venv path
    (the same environment reached through another directory) builds the same files, and no file
    names either interpreter, the build's temporary folder or a script directory."""
    requirements = DEFAULT_ROOT / "requirements.txt"
    here = artifacts.vendor_requirements(requirements)
    real = Path(sys.prefix)
    other = tmp_path / "elsewhere" / "venv"
    (other / "bin").mkdir(parents=True)
    (other / "pyvenv.cfg").write_bytes((real / "pyvenv.cfg").read_bytes())
    (other / "lib").symlink_to(real / "lib")
    (other / "bin" / "python").symlink_to(Path(sys.executable).resolve())
    monkeypatch.setattr(sys, "executable", str(other / "bin" / "python"))
    there = artifacts.vendor_requirements(requirements)
    assert here == there
    assert not any(name.startswith("bin/") for name in here)
    for name, data in here.items():
        for path in (str(real), str(other), "envport-vendor-"):
            assert path.encode() not in data, (name, path)


def test_the_default_artifact_is_built_once_per_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # R-REL-1
    """Memo, then file cache, keyed by the sources and the pins: pip runs only when they change."""
    root = make_package(tmp_path / "myfn", {"handler.py": HANDLER_SOURCE, "helper.py": "VALUE = 1\n"})
    monkeypatch.setenv(ARTIFACT_CACHE_ENV, str(tmp_path / "cache"))
    built: list[str] = []
    real = artifacts.artifact_from_directory

    def counting(path: Path, **kwargs: object) -> Artifact:
        built.append(str(path))
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(artifacts, "artifact_from_directory", counting)
    first = cached_artifact(root, handler="myfn.handler.lambda_handler")
    assert cached_artifact(root, handler="myfn.handler.lambda_handler") is first  # in-process memo
    assert built == [str(root)]
    [cached] = (tmp_path / "cache").glob("*.zip")
    assert cached.read_bytes() == first.data

    artifacts._memo.clear()  # a new process: the file cache answers, validated like any zip
    again = cached_artifact(root, handler="myfn.handler.lambda_handler")
    assert again.sha256 == first.sha256 and built == [str(root)]

    artifacts._memo.clear()
    cached.write_bytes(b"damaged")  # a damaged cache file is rebuilt, never deployed
    assert cached_artifact(root, handler="myfn.handler.lambda_handler").sha256 == first.sha256
    assert len(built) == 2 and cached.read_bytes() == first.data

    (root / "helper.py").write_text("VALUE = 2\n")  # any source change is a new key and a new build
    changed = cached_artifact(root, handler="myfn.handler.lambda_handler")
    assert changed.sha256 != first.sha256 and len(built) == 3
    key = source_key(root, handler="myfn.handler.lambda_handler")
    (root / "requirements.txt").write_text("# nothing pinned yet\n")  # so is a change of the pins
    assert source_key(root, handler="myfn.handler.lambda_handler") not in (key, None)
    cached_artifact(root, handler="myfn.handler.lambda_handler")
    assert len(built) == 4


def test_pip_uses_the_local_wheelhouse_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # R-REL-1
    """Unset ENVPORT_PIP_OPTIONS + a wheelhouse: offline; set (even empty): exactly what it says."""
    monkeypatch.delenv(PIP_OPTIONS_ENV, raising=False)
    monkeypatch.setenv(WHEELHOUSE_ENV, str(tmp_path / "wheels"))
    assert pip_options_from_env() == []  # no wheelhouse yet: pip's own defaults
    (tmp_path / "wheels").mkdir()
    assert pip_options_from_env() == ["--no-index", "--find-links", str(tmp_path / "wheels")]
    monkeypatch.setenv(PIP_OPTIONS_ENV, "")
    assert pip_options_from_env() == []
    monkeypatch.setenv(PIP_OPTIONS_ENV, "--index-url https://pypi.internal/simple")
    assert pip_options_from_env() == ["--index-url", "https://pypi.internal/simple"]


def test_a_handler_in_another_module_is_validated(tmp_path: Path) -> None:  # R-REL-1
    root = make_package(tmp_path / "myfn", {"api.py": "def handle(event, context):\n    return 2\n"})
    assert artifact_from_directory(root, handler="myfn.api.handle").handler == "myfn.api.handle"
    with pytest.raises(ArtifactError, match=r"myfn/api\.py defines no 'missing'"):
        artifact_from_directory(root, handler="myfn.api.missing")
    with pytest.raises(ArtifactError, match=r"needs module myfn\.nowhere"):
        artifact_from_directory(root, handler="myfn.nowhere.handle")


@pytest.mark.parametrize("handler", ["handler", "myfn.handler.", "my-fn.handler.go", "1x.y", ""])
def test_a_malformed_handler_is_refused_before_building(tmp_path: Path, handler: str) -> None:
    root = make_package(tmp_path / "myfn")
    with pytest.raises(ArtifactError, match=r"MODULE\.FUNCTION") as info:
        artifact_from_directory(root, handler=handler)
    assert isinstance(info.value, BundleError)  # whoever refuses a bad bundle refuses this


def test_an_unvendored_import_is_refused_naming_the_module(tmp_path: Path) -> None:  # R-REL-1
    root = make_package(tmp_path / "myfn", {"handler.py": USES_TINYLIB})
    with pytest.raises(ArtifactError) as info:
        artifact_from_directory(root)
    assert len(info.value.problems) == 1
    assert "myfn/handler.py:1" in info.value.problems[0] and "'tinylib'" in info.value.problems[0]
    assert "requirements.txt" in info.value.problems[0]


def test_pip_command_asks_for_lambda_platform_wheels_only(tmp_path: Path) -> None:  # R-REL-1
    command = pip_command(tmp_path / "requirements.txt", tmp_path / "out", pip_options=["--no-index"])
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    joined = " ".join(command)
    for part in (
        "--platform manylinux2014_aarch64",
        "--implementation cp",
        "--python-version 3.12",
        "--only-binary=:all:",
        f"--target {tmp_path / 'out'}",
        "--no-compile",
        "--no-index",
        f"-r {tmp_path / 'requirements.txt'}",
    ):
        assert part in joined
    x86 = pip_command(tmp_path / "r.txt", tmp_path / "o", architecture="x86_64")
    assert "manylinux2014_x86_64" in x86


# --- vendoring requirements.txt (real pip, offline) ---


@pytest.mark.slow
def test_requirements_are_vendored_offline_and_the_import_check_passes(  # R-REL-1
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels)
    root = make_package(tmp_path / "myfn", {"handler.py": USES_TINYLIB, "requirements.txt": "tinylib==1.0\n"})
    options = ["--no-index", "--find-links", str(wheels)]
    artifact = artifact_from_directory(root, pip_options=options)
    names = names_in(artifact)
    assert "tinylib/__init__.py" in names and "myfn/handler.py" in names
    assert "tinylib-1.0.dist-info/METADATA" in names
    assert not any(name.endswith(".pyc") or "__pycache__" in name for name in names)
    assert "myfn/requirements.txt" not in names
    # Deterministic with vendoring too, and the options may come from the environment instead.
    monkeypatch.setenv(PIP_OPTIONS_ENV, f"--no-index --find-links {wheels}")
    assert artifact_from_directory(root).sha256 == artifact.sha256
    # The vendored package works from the zip alone.
    result = run_handler(artifact, tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from tinylib 1.0"


@pytest.mark.slow
def test_a_requirement_pip_cannot_find_is_refused_with_pips_reason(tmp_path: Path) -> None:  # R-REL-1
    wheels = tmp_path / "wheels"
    make_wheel(wheels)
    root = make_package(tmp_path / "myfn", {"handler.py": USES_TINYLIB, "requirements.txt": "tinylib==9.9\n"})
    with pytest.raises(ArtifactError) as info:
        artifact_from_directory(root, pip_options=["--no-index", "--find-links", str(wheels)])
    message = info.value.problems[0]
    assert "requirements.txt" in message and "python3.12" in message and "arm64" in message
    assert "tinylib==9.9" in message


def test_a_comment_only_requirements_file_runs_no_pip(tmp_path: Path) -> None:
    root = make_package(tmp_path / "myfn", {"requirements.txt": "# nothing yet\n\n"})
    # An unusable pip option would fail any pip run: none happens.
    artifact = artifact_from_directory(root, pip_options=["--no-such-option"])
    assert names_in(artifact) == ["myfn/__init__.py", "myfn/handler.py", "myfn/helper.py"]


# --- a ready zip ---


def test_a_ready_zip_is_taken_byte_for_byte(tmp_path: Path) -> None:  # R-REL-1
    data = zip_bytes(
        {
            "app/__init__.py": "",
            "app/main.py": "import vendored_lib\n\ndef handle(event, context):\n    return 1\n",
            "vendored_lib/__init__.py": "import something_it_needs\n",  # a vendored package's business
            "vendored_lib-2.0.dist-info/METADATA": "Name: vendored_lib\n",
            "app/tests/test_main.py": "import pytest\n",  # tests are not imported at runtime
        }
    )
    path = tmp_path / "build.zip"
    path.write_bytes(data)
    artifact = build_artifact(path, handler="app.main.handle")
    assert artifact.data == data and artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert artifact.source == str(path) and artifact.handler == "app.main.handle"
    assert artifact_from_zip(path, handler="app.main.handle").sha256 == artifact.sha256
    with pytest.raises(ArtifactError, match="needs its handler named"):
        build_artifact(path)


def test_a_top_level_module_handler_in_a_zip(tmp_path: Path) -> None:
    data = zip_bytes({"app.py": "import json\n\ndef handler(event, context):\n    return json.dumps(1)\n"})
    assert artifact_from_bytes(data, handler="app.handler", source="x").handler == "app.handler"


@pytest.mark.parametrize(
    "entries, handler, expected",
    [
        ({"/etc/app.py": "def h(e, c): pass\n"}, "app.h", "absolute path"),
        ({"../app.py": "def h(e, c): pass\n"}, "app.h", "climbs out"),
        ({"app/../../x.py": "X = 1\n", "app.py": "def h(e, c): pass\n"}, "app.h", "climbs out"),
        ({"app\\main.py": "def h(e, c): pass\n"}, "app.main.h", "backslash"),
        ({"other.py": "def h(e, c): pass\n"}, "app.h", "needs package app"),
        ({"app/__init__.py": "", "app/main.py": "X = 1\n"}, "app.main.h", "defines no 'h'"),
        ({"app/__init__.py": "", "app/main.py": "import yaml\ndef h(e, c): pass\n"}, "app.main.h", "'yaml'"),
        ({"app.py": "def h(e, c):\n  return (\n"}, "app.h", "does not parse"),
    ],
)
def test_a_bad_zip_is_refused(entries: dict[str, str], handler: str, expected: str) -> None:  # R-REL-1
    with pytest.raises(ArtifactError, match=expected.replace("(", r"\(")):
        artifact_from_bytes(zip_bytes(entries), handler=handler, source="upload.zip")


def test_what_is_not_a_zip_is_refused(tmp_path: Path) -> None:  # R-REL-1
    with pytest.raises(ArtifactError, match="not a zip file"):
        artifact_from_bytes(b"PK\x03\x04 truncated", handler="app.h", source="upload.zip")
    with pytest.raises(ArtifactError, match="the zip is empty"):
        artifact_from_bytes(zip_bytes({}), handler="app.h", source="upload.zip")
    text = tmp_path / "code.txt"
    text.write_text("hello")
    with pytest.raises(ArtifactError, match=r"neither a package folder nor a \.zip file"):
        build_artifact(text, handler="app.h")
    with pytest.raises(ArtifactError, match="cannot be read"):
        artifact_from_zip(tmp_path / "missing.zip", handler="app.h")


def test_a_corrupt_entry_is_refused() -> None:  # R-REL-1
    data = bytearray(zip_bytes({"app.py": "def h(event, context):\n    return 'x' * 100\n"}))
    start = data.index(b"def h") if b"def h" in data else 40
    data[start] ^= 0xFF  # stored uncompressed: flip a byte of the content, the CRC no longer matches
    with pytest.raises(ArtifactError, match="corrupt"):
        artifact_from_bytes(bytes(data), handler="app.h", source="upload.zip")


# --- naming an artifact in the spec ---


def test_the_spec_names_an_artifact_by_sha256_and_validates_it() -> None:  # R-REL-1
    from provisioning.spec import SpecError, build_spec, spec_from_dict

    sha = "a" * 64
    spec = build_spec(suffix="dev1", stage="dev", artifact_sha256=sha, handler="app.main.handle")
    assert (spec.artifact_sha256, spec.function_handler) == (sha, "app.main.handle")
    assert spec_from_dict(spec.to_dict()) == spec
    assert build_spec(suffix="dev1", stage="dev").function_handler == HANDLER
    with pytest.raises(SpecError) as info:
        build_spec(suffix="dev1", stage="dev", artifact_sha256="ABC", handler="not a handler")
    assert {p.field for p in info.value.problems} == {"artifact_sha256", "handler"}
    with pytest.raises(SpecError, match="only with artifact_sha256"):
        build_spec(suffix="dev1", stage="dev", handler="app.main.handle")
