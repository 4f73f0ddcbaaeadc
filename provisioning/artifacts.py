"""Function code as artifacts: deterministic zips addressed by their SHA-256 (R-REL-1).

An artifact is built from a package folder (zipped under the folder's own name, as
`lambda_bundle/` is) or taken as a ready `.zip`. Its address is the hex SHA-256 of its bytes:
the same source gives the same bytes (`bundle.deterministic_zip`), so the same artifact is
stored once (`artifacts/<sha256>.zip` in the account's artifact bucket) and promoted from one
environment to the next as exactly those bytes.

A folder that holds a `requirements.txt` gets its packages vendored into the zip the way
`sam build` does: `pip install --platform manylinux2014_aarch64 --implementation cp
--python-version 3.12 --only-binary=:all: --target DIR`, i.e. wheels for the function's runtime
and architecture, never whatever the building machine would compile. Extra pip options (an
internal index, `--no-index --find-links DIR` for offline builds) come from the `pip_options`
parameter or the `ENVPORT_PIP_OPTIONS` variable. When that variable is not set at all and the
local wheelhouse exists (`var/wheelhouse`, or `ENVPORT_WHEELHOUSE`: `make venv` downloads the
pinned wheels of `lambda_bundle/requirements.txt` into it), the default is `--no-index
--find-links <wheelhouse>`, so building the default artifact never needs the network. Set
`ENVPORT_PIP_OPTIONS=""` to let pip use its index instead.

A pipeline writes the requirements.txt, so the build trusts nothing of it (a pip option in it
could run a source package's build backend with the portal's AWS keys at hand): it is read as exact
pins only (`pins.parse_pins`; refusals by line number, never its content), pip is given a file
written from the parsed pins, and pip runs in the sandbox (`sandbox.run_limited`): wheels only in
its argv and its environment, no index but the configured source (`PIP_SOURCE_OPTIONS`; no host
pip.conf or PIP_* variable applies), an environment built from an allow-list (no AWS_*,
DATABASE_URL, DJANGO_SECRET_KEY...), its own HOME and TMPDIR, and CPU, memory, file-size and
wall-clock limits (`PIP_LIMITS`). A folder holding a symbolic link or a special file is refused,
as a zip's link entries are.

Zips are bounded before and while they are read (`_checked_infos`, `_read_zip`): entries, depth,
per-entry and total unzipped size, compression ratio from the headers, then bytes counted as they
inflate; only the function's own modules are kept in memory. A pipeline's zip of a package folder
holding a requirements.txt is built like the folder (`artifact_from_upload`), and every caller
(`release --bundle`, the console's form, the API's upload) goes through `build_artifact`.

The default artifact (`lambda_bundle/` with its vendored Powertools) is built once per source:
`default_artifact` memoises it in the process and keeps the zip in a file cache
(`var/cache/artifacts/<key>.zip`, or `ENVPORT_ARTIFACT_CACHE`), keyed by the SHA-256 of the
package's files, its requirements.txt, the handler, runtime and architecture. A plan, apply or
drift check of an unchanged tree therefore neither runs pip nor re-zips; any edit to a source
file or a pin gives a new key and a fresh build. Deleting the folder is always safe.

Then the import check of `bundle.py` runs over the function's own package (in a child process
under limits, each module at most `bundle.MAX_MODULE_BYTES`), against the
python3.12 standard library, boto3/botocore and the vendored top-level modules, so an artifact
that would fail with `Runtime.ImportModuleError` is refused before upload (ArtifactError, one
problem per line, naming the module). A ready zip is checked the same way: the handler's
top-level package is the function's own code, every other top-level name in it counts as
vendored.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shlex
import stat
import struct
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from .aws import AwsClients, error_code, unless_absent
from .bundle import (
    DEFAULT_ROOT,
    MAX_DEPTH,
    MAX_FILES,
    MAX_MODULE_BYTES,
    VENDOR_HINT,
    BundleError,
    check_bundle,
    collect_package,
    deterministic_zip,
    is_function_module,
    read_regular,
    top_level_names,
)
from .names import HANDLER, artifact_bucket, artifact_key
from .pins import MAX_BYTES as MAX_REQUIREMENTS_BYTES
from .pins import PinError, parse_pins, pins_file
from .sandbox import MIB, Limits, SandboxLimit, run_limited, sandbox_env
from .spec import HANDLER_RE, HANDLER_RULE, SHA256_RE

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
# pip's platform tag for each Lambda architecture (the manylinux2014 baseline Lambda's
# Amazon Linux 2023 satisfies; pure-Python wheels, py3-none-any, fit every platform).
PIP_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
RUNTIME_PYTHON = {"python3.12": "3.12"}
PIP_OPTIONS_ENV = "ENVPORT_PIP_OPTIONS"
WHEELHOUSE_ENV = "ENVPORT_WHEELHOUSE"
ARTIFACT_CACHE_ENV = "ENVPORT_ARTIFACT_CACHE"
_VAR = DEFAULT_ROOT.parent / "var"
DEFAULT_WHEELHOUSE = _VAR / "wheelhouse"
DEFAULT_ARTIFACT_CACHE = _VAR / "cache" / "artifacts"
# Bumped whenever the same sources build different bytes (2: no `bin/`, RECORDs without it), so
# that a zip cached by an older build is never taken for this one's.
_CACHE_FORMAT = b"envport-artifact-cache-2"
PIP_TIMEOUT_S = 600
REQUIREMENTS = "requirements.txt"
# Lambda's limit on the unzipped size of a function's code (250 MB).
MAX_UNZIPPED_BYTES = 262_144_000
# A zip is judged from its headers before anything is inflated, and again while inflating: at
# most MAX_FILES entries (counted from its end record, before Python builds one object per
# entry), MAX_DEPTH folders deep, each entry at most MAX_ENTRY_BYTES unzipped and, when over
# 1 MB, at most MAX_RATIO times its compressed size (a 245 KB zip of 250 MB of zeros is 1000:1;
# code and wheels are far under 100:1), and all of them at most Lambda's MAX_UNZIPPED_BYTES.
MAX_ENTRY_BYTES = 128 * MIB
MAX_RATIO = 100
RATIO_FLOOR_BYTES = MIB
_CHUNK = MIB
# pip's child (`vendor_requirements`): CPU, memory, largest file written, and the wall clock.
PIP_LIMITS = Limits(cpu_s=300, memory_bytes=2048 * MIB, file_bytes=MAX_UNZIPPED_BYTES, wall_s=PIP_TIMEOUT_S)
# The pip options a configuration may give (ENVPORT_PIP_OPTIONS, `pip_options`): where the
# wheels come from, nothing that changes what is installed or how.
PIP_SOURCE_OPTIONS = ("--no-index", "--find-links", "--index-url")
# What a ready zip's missing import is told: the real fix is the folder's requirements.txt.
ZIP_HINT = (
    "list the package that provides {module!r} in requirements.txt (name==version) beside the "
    "package's modules and send the package folder's zip, whose requirements the portal vendors, "
    "or vendor it into the zip yourself"
)
# The object tag the bucket's lifecycle rule reads: `false` once no release refers to an
# artifact any more, and S3 expires it after `artifact_bucket.UNREFERENCED_DAYS`.
REFERENCED_TAG = "envport:referenced"
# What pip leaves in --target that the function does not need and that would break determinism.
_VENDOR_SKIP = ("__pycache__",)
# Console scripts (jmespath's `bin/jp.py`): pip writes them with a shebang naming the building
# interpreter (`#!/path/to/.venv/bin/python`), so their bytes, and their hashes in the
# distribution's RECORD, depend on where the venv lives. Lambda never runs them: not shipped.
_VENDOR_SCRIPTS = "bin"


class ArtifactError(BundleError):
    """The artifact cannot be built or would not work once deployed; every problem, one per line.

    A subclass of BundleError: whoever refuses a bad bundle (the CLI's exit 2) refuses this too.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        ValueError.__init__(self, "the artifact is not deployable:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Artifact:
    """A built zip and its record: what the database stores, what S3 holds, what Lambda runs."""

    data: bytes = field(repr=False)
    sha256: str  # hex: the artifact's address
    source: str  # a folder, a zip file, or "promoted from ENV"
    handler: str  # MODULE.FUNCTION, checked to exist in the zip
    runtime: str
    architecture: str
    built_at: str  # ISO 8601, UTC
    files: tuple[str, ...] = field(default=(), repr=False)

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def sha256_b64(self) -> str:
        """Lambda's `CodeSha256`: the same digest, base64 instead of hex."""
        return code_sha256(self.sha256)

    @property
    def key(self) -> str:
        return artifact_key(self.sha256)

    def record(self) -> dict[str, Any]:
        """The JSON-ready record (no bytes)."""
        return {
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "source": self.source,
            "handler": self.handler,
            "runtime": self.runtime,
            "architecture": self.architecture,
            "built_at": self.built_at,
        }


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def code(self) -> dict[str, str]:
        """Lambda's `Code` / UpdateFunctionCode parameters for this object."""
        return {"S3Bucket": self.bucket, "S3Key": self.key}


def code_sha256(sha256_hex: str) -> str:
    """Lambda's CodeSha256 (base64 of the digest) for an artifact's hex SHA-256."""
    return base64.b64encode(bytes.fromhex(sha256_hex)).decode("ascii")


def handler_problems(handler: object) -> list[str]:
    """The handler's shape, before anything is built (its presence is checked in the zip)."""
    if not isinstance(handler, str) or not HANDLER_RE.fullmatch(handler):
        return [f"handler {handler!r} is not allowed; {HANDLER_RULE}"]
    return []


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def build_artifact(
    path: Path | str | bytes | None = None,
    *,
    handler: str | None = None,
    name: str | None = None,
    pip_options: Sequence[str] | None = None,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
) -> Artifact:
    """An artifact from a package folder (default: `lambda_bundle/`), a `.zip` file, or the bytes
    of an uploaded zip (`name` is its file name): what the CLI's `release --bundle`, the API's
    artifact upload and the console's release form all call, so each builds the same way.

    A zip whose root or single top folder holds a requirements.txt (and nothing vendored yet) is
    a package folder's zip: rebuilt like the folder, its requirements vendored (`artifact_from_upload`).
    """
    if isinstance(path, bytes):
        return artifact_from_upload(
            path,
            handler=handler or "",
            source=f"upload {name or 'zip'}",
            pip_options=pip_options,
            runtime=runtime,
            architecture=architecture,
        )
    path = DEFAULT_ROOT if path is None else Path(path)
    if path.is_dir():
        return artifact_from_directory(
            path, handler=handler, pip_options=pip_options, runtime=runtime, architecture=architecture
        )
    if path.is_file() and path.suffix == ".zip":
        if handler is None:
            raise ArtifactError([f"{path}: a ready zip needs its handler named ({HANDLER_RULE})"])
        return artifact_from_upload(
            _read_zip_file(path),
            handler=handler,
            source=str(path),
            pip_options=pip_options,
            runtime=runtime,
            architecture=architecture,
        )
    raise ArtifactError([f"{path} is neither a package folder nor a .zip file"])


def default_artifact() -> Artifact:
    """The repository's own `lambda_bundle/` with its vendored requirements: what a new
    environment runs. Built once per source (memo and file cache, see the module docstring)."""
    return cached_artifact(DEFAULT_ROOT, handler=HANDLER)


# The `token` mode's authorizer (R-AUTH-1): its own package, built by the same pipeline.
AUTHORIZER_ROOT = DEFAULT_ROOT.parent / "authorizer_bundle"
AUTHORIZER_HANDLER = "authorizer_bundle.handler.lambda_handler"


def authorizer_artifact() -> Artifact:
    """`authorizer_bundle/` (standard library and boto3 only), built once per source like the default."""
    return cached_artifact(AUTHORIZER_ROOT, handler=AUTHORIZER_HANDLER)


_memo: dict[str, Artifact] = {}


def cached_artifact(root: Path | str, *, handler: str) -> Artifact:
    """`artifact_from_directory(root)`, built at most once per source key (memo, then file cache).

    A cached zip is validated again like any zip (`artifact_from_bytes`), so a damaged cache file
    is rebuilt, never deployed.
    """
    root = Path(root)
    key = source_key(root, handler=handler)
    if key is None:  # unreadable folder: let the builder name the problem
        return artifact_from_directory(root, handler=handler)
    hit = _memo.get(key)
    if hit is not None:
        return hit
    path = artifact_cache_dir() / f"{key}.zip"
    artifact = _load_cached(path, root, handler)
    if artifact is None:
        artifact = artifact_from_directory(root, handler=handler)
        _store_cached(path, artifact.data)
    _memo[key] = artifact
    return artifact


def source_key(
    root: Path, *, handler: str, runtime: str = RUNTIME, architecture: str = ARCHITECTURE
) -> str | None:
    """The SHA-256 of everything an artifact built from `root` depends on, or None if unreadable.

    The package's files as `collect_package` takes them and requirements.txt (whose pins fix
    what pip installs); not the pip options, which only say where the same wheels come from.
    """
    try:
        sources = collect_package(root, root.name)
        pins = _requirements_bytes(root)
    except (BundleError, OSError):
        return None
    digest = hashlib.sha256(_CACHE_FORMAT)
    for part in (handler, runtime, architecture):
        digest.update(b"\0" + part.encode())
    for name in sorted(sources):
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(sources[name]).digest())
    digest.update(b"\0" + REQUIREMENTS.encode() + b"\0" + hashlib.sha256(pins).digest())
    return digest.hexdigest()


def artifact_cache_dir() -> Path:
    return Path(os.environ.get(ARTIFACT_CACHE_ENV) or DEFAULT_ARTIFACT_CACHE)


def _load_cached(path: Path, root: Path, handler: str) -> Artifact | None:
    try:
        data = path.read_bytes()
        built_at = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
        return artifact_from_bytes(data, handler=handler, source=str(root), built_at=built_at)
    except (OSError, ArtifactError):
        return None


def _store_cached(path: Path, data: bytes) -> None:
    """Write atomically (another process may read it at the same time); a cache never fails a build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError:
        return


def artifact_from_directory(
    root: Path | str,
    *,
    handler: str | None = None,
    pip_options: Sequence[str] | None = None,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
) -> Artifact:
    """Zip the package folder `root` under its own name, with its requirements vendored.

    The handler defaults to `<folder>.handler.lambda_handler`.
    """
    root = Path(root)
    package = root.name
    handler = f"{package}.handler.lambda_handler" if handler is None else handler
    problems = handler_problems(handler) + _target_problems(runtime, architecture)
    if not package.isidentifier():
        problems.append(f"{root}: the folder name {package!r} is the package name and must be an identifier")
    if problems:
        raise ArtifactError(problems)
    try:
        sources = collect_package(root, package)
        requirements = _requirements_bytes(root)
    except BundleError as exc:
        raise ArtifactError(exc.problems) from None
    vendored: dict[str, bytes] = {}
    if requirements:
        vendored = vendor_pins(
            requirements,
            label=f"{package}/{REQUIREMENTS}",
            runtime=runtime,
            architecture=architecture,
            pip_options=pip_options,
        )
    clashes = sorted(name for name in vendored if name.split("/", 1)[0] == package)
    if clashes:
        raise ArtifactError([f"{REQUIREMENTS} installs {clashes[0]!r}, which would overwrite the package"])
    _check(sources, handler, package, top_level_names(vendored))
    entries = {**vendored, **sources}
    _check_size(entries)
    data = deterministic_zip(entries)
    return _artifact(data, str(root), handler, runtime, architecture, tuple(sorted(entries)))


def artifact_from_zip(
    path: Path | str, *, handler: str, runtime: str = RUNTIME, architecture: str = ARCHITECTURE
) -> Artifact:
    """A ready zip, taken byte for byte (its hash is its own), after the same checks."""
    path = Path(path)
    return artifact_from_bytes(
        _read_zip_file(path), handler=handler, source=str(path), runtime=runtime, architecture=architecture
    )


def _read_zip_file(path: Path) -> bytes:
    """A zip file's bytes: a regular file (no link, no fifo) of at most Lambda's unzipped limit."""
    try:
        return read_regular(path, MAX_UNZIPPED_BYTES, str(path))
    except BundleError as exc:
        raise ArtifactError(exc.problems) from None


def artifact_from_upload(
    data: bytes,
    *,
    handler: str,
    source: str,
    pip_options: Sequence[str] | None = None,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
) -> Artifact:
    """Zip bytes from a pipeline: a package folder's zip is built like the folder, any other zip
    is taken byte for byte (`artifact_from_bytes`).

    A package folder's zip is what `zip -qr fn.zip myfn` makes of a folder `myfn/` holding a
    requirements.txt: one top folder, the handler's package, with requirements.txt in it (or at
    the zip's root beside that folder). Its modules and requirements.txt are written to a
    temporary folder of that name, which `artifact_from_directory` builds exactly as `release
    --bundle myfn/` would, vendoring the requirements in the sandbox. A zip that already holds
    vendored packages (a top-level `*.dist-info`) is a ready zip, whatever else it holds.
    """
    problems = handler_problems(handler) + _target_problems(runtime, architecture)
    if problems:
        raise ArtifactError(problems)
    layout = _package_layout(_zip_names(data, source), handler, source)
    if layout is None:
        return artifact_from_bytes(
            data, handler=handler, source=source, runtime=runtime, architecture=architecture
        )
    package, requirements = layout

    def wanted(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return name == requirements or (parts[0] == package and is_function_module(parts[1:]))

    kept = _read_zip(data, source, wanted).kept
    with tempfile.TemporaryDirectory(prefix="envport-upload-") as tmp:
        root = Path(tmp) / package
        root.mkdir()
        for name, content in sorted(kept.items()):
            target = root / REQUIREMENTS if name == requirements else root.joinpath(*name.split("/")[1:])
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            except OSError:  # a file and a folder of the same name, and the like
                raise ArtifactError([f"{source}: entry {name!r} clashes with another entry's path"]) from None
        built = artifact_from_directory(
            root, handler=handler, pip_options=pip_options, runtime=runtime, architecture=architecture
        )
    return replace(built, source=source)


def _package_layout(names: Sequence[str], handler: str, source: str) -> tuple[str, str] | None:
    """(package, requirements entry) when the zip is a package folder's, else None (a ready zip)."""
    package = handler.split(".", 1)[0]
    tops = {name.split("/", 1)[0] for name in names}
    if any(top.endswith(".dist-info") for top in tops):
        return None  # already vendored
    if len(tops) == 1:
        (top,) = tops
        if f"{top}/{REQUIREMENTS}" not in names:
            return None
        if top != package:
            raise ArtifactError(
                [
                    f"{source}: the handler {handler} names package {package!r}, but the zip's folder "
                    f"is {top!r}; name the handler after the folder ({top}.handler.lambda_handler)"
                ]
            )
        return package, f"{top}/{REQUIREMENTS}"
    if REQUIREMENTS not in names:
        return None
    if not any(name.startswith(f"{package}/") for name in names):
        raise ArtifactError(
            [
                f"{source}: {REQUIREMENTS} at the zip's root needs the handler's package folder "
                f"{package}/ beside it; zip the package folder itself (zip -qr fn.zip {package}) "
                f"with its {REQUIREMENTS} inside"
            ]
        )
    return package, REQUIREMENTS


def artifact_from_bytes(
    data: bytes,
    *,
    handler: str,
    source: str,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
    built_at: str | None = None,
) -> Artifact:
    """Validate zip bytes from anywhere (a file, S3 for a promotion) and make them an artifact.

    Refused: anything that is not a readable zip, entries with absolute paths, `..`, backslashes,
    duplicates, encryption or symbolic links, more than Lambda's unzipped limit, and a handler
    whose module is missing, does not define the function, or imports what the zip lacks.
    """
    problems = handler_problems(handler) + _target_problems(runtime, architecture)
    if problems:
        raise ArtifactError(problems)
    package = handler.split(".", 1)[0]

    def own(name: str) -> bool:
        parts = PurePosixPath(name).parts
        return name == f"{package}.py" or (parts[0] == package and is_function_module(parts[1:]))

    contents = _read_zip(data, source, own)
    vendored = top_level_names(contents.sizes) - {package}
    _check(contents.kept, handler, package, vendored, hint=ZIP_HINT)
    _check_size(contents.sizes)
    files = tuple(sorted(contents.sizes))
    return _artifact(data, source, handler, runtime, architecture, files, built_at)


def _artifact(
    data: bytes,
    source: str,
    handler: str,
    runtime: str,
    architecture: str,
    files: tuple[str, ...],
    built_at: str | None = None,
) -> Artifact:
    return Artifact(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        source=source,
        handler=handler,
        runtime=runtime,
        architecture=architecture,
        built_at=built_at or datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
    )


def _target_problems(runtime: str, architecture: str) -> list[str]:
    problems = []
    if runtime not in RUNTIME_PYTHON:
        problems.append(f"runtime {runtime!r} is not allowed; one of {', '.join(RUNTIME_PYTHON)}")
    if architecture not in PIP_PLATFORMS:
        problems.append(f"architecture {architecture!r} is not allowed; one of {', '.join(PIP_PLATFORMS)}")
    return problems


def _check(
    sources: Mapping[str, bytes],
    handler: str,
    package: str,
    vendored: frozenset[str],
    hint: str = VENDOR_HINT,
) -> None:
    if not sources:
        raise ArtifactError([f"the handler {handler} needs package {package}, which is not in the artifact"])
    try:
        check_bundle(sources, handler=handler, package=package, vendored=vendored, hint=hint)
    except BundleError as exc:
        raise ArtifactError(exc.problems) from None


def _check_size(entries: Mapping[str, bytes] | Mapping[str, int]) -> None:
    size = sum(content if isinstance(content, int) else len(content) for content in entries.values())
    if size > MAX_UNZIPPED_BYTES:
        raise ArtifactError([f"unzipped size {size} bytes exceeds Lambda's limit of {MAX_UNZIPPED_BYTES}"])


@dataclass(frozen=True)
class ZipContents:
    """What reading a zip keeps: every file entry's unzipped size, and the bytes of those asked for."""

    sizes: dict[str, int]
    kept: dict[str, bytes]


_MAX_LISTED = 20  # problems named one by one; past that, counted


def _zip_names(data: bytes, source: str) -> list[str]:
    """The file entries of a zip, after every header check: nothing is inflated."""
    with _open_zip(data, source) as archive:
        return [info.filename for info in _checked_infos(archive, source) if not info.is_dir()]


def _read_zip(data: bytes, source: str, keep: Callable[[str], bool]) -> ZipContents:
    """Check a zip's headers, then inflate every entry once, counting bytes as they come.

    Every entry is read (so a corrupt one is refused: its CRC is checked at its end), but only
    the entries `keep` names are held in memory, each at most MAX_MODULE_BYTES: the rest are
    counted and dropped. An entry that inflates past the size its header declares is refused
    there, so a lying header cannot take more than the caps the headers were checked against.
    """
    problems: list[str] = []
    sizes: dict[str, int] = {}
    kept: dict[str, bytes] = {}
    with _open_zip(data, source) as archive:
        for info in _checked_infos(archive, source):
            if info.is_dir():
                continue
            wanted = keep(info.filename)
            if wanted and info.file_size > MAX_MODULE_BYTES:
                problems.append(
                    f"{source}: entry {info.filename!r} is {info.file_size} bytes; a module of the "
                    f"function is at most {MAX_MODULE_BYTES} bytes"
                )
                continue
            try:
                content, size = _inflate(archive, info, hold=wanted)
            except _Inflated as exc:
                problems.append(f"{source}: entry {info.filename!r} {exc}")
                continue
            sizes[info.filename] = size
            if wanted:
                kept[info.filename] = content
    if problems:
        raise ArtifactError(_listed(problems))
    return ZipContents(sizes, kept)


class _Inflated(Exception):
    """An entry could not be inflated within its header's promise; says why."""


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, hold: bool) -> tuple[bytes, int]:
    parts: list[bytes] = []
    count = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                count += len(chunk)
                if count > info.file_size:
                    raise _Inflated(f"inflates past the {info.file_size} bytes its header declares")
                if hold:
                    parts.append(chunk)
    except _Inflated:
        raise
    except Exception as exc:  # zlib, CRC, truncation, an unknown method: whatever the bytes cause
        raise _Inflated(f"is corrupt ({type(exc).__name__}: {str(exc)[:120]})") from None
    if count != info.file_size:
        raise _Inflated(f"inflates to {count} bytes, not the {info.file_size} its header declares")
    return b"".join(parts), count


def _open_zip(data: bytes, source: str) -> zipfile.ZipFile:
    """The archive, once its end record promises no more than MAX_FILES entries."""
    declared = _declared_entries(data)
    if declared is not None and declared > MAX_FILES:
        raise ArtifactError([f"{source}: {declared} entries is not allowed; at most {MAX_FILES}"])
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # crafted headers raise more than BadZipFile (struct, overflow...)
        raise ArtifactError([f"{source}: not a zip file ({str(exc)[:120]})"]) from None


def _declared_entries(data: bytes) -> int | None:
    """The entry count in a zip's end-of-central-directory record (zip64's if it defers to it),
    read before Python builds one object per entry; None when there is no such record.

    The record is the last 22 bytes plus a comment of at most 65,535 (APPNOTE.TXT 4.3.16).
    """
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65_535))
    if end < 0 or end + 22 > len(data):
        return None
    (count,) = struct.unpack_from("<H", data, end + 10)
    locator = end - 20
    if count == 0xFFFF and locator >= 0 and data[locator : locator + 4] == b"PK\x06\x07":
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if offset + 56 <= len(data) and data[offset : offset + 4] == b"PK\x06\x06":
            (count,) = struct.unpack_from("<Q", data, offset + 32)
    return int(count)


def _checked_infos(archive: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    """The entries, or ArtifactError listing every unsafe one and every cap the headers break."""
    infos = archive.infolist()
    if not infos:
        raise ArtifactError([f"{source}: the zip is empty"])
    if len(infos) > MAX_FILES:
        raise ArtifactError([f"{source}: {len(infos)} entries is not allowed; at most {MAX_FILES}"])
    problems: list[str] = []
    seen: set[str] = set()
    declared = 0
    for info in infos:
        name = info.filename
        problem = _entry_problem(info)
        if problem is None and name in seen:
            problem = "appears twice"
        if problem is None and not info.is_dir():
            problem = _size_problem(info)
        if problem is not None:
            problems.append(f"{source}: entry {name!r} {problem}")
        seen.add(name)
        declared += 0 if info.is_dir() else info.file_size
    if problems:
        raise ArtifactError(_listed(problems))
    if declared > MAX_UNZIPPED_BYTES:
        raise ArtifactError(
            [f"{source}: unzipped size {declared} bytes exceeds Lambda's {MAX_UNZIPPED_BYTES} bytes"]
        )
    compressed = sum(info.compress_size for info in infos)
    if declared > RATIO_FLOOR_BYTES and declared > MAX_RATIO * max(compressed, 1):
        raise ArtifactError(
            [
                f"{source}: inflates {declared // max(compressed, 1)}:1 ({declared} bytes from "
                f"{compressed}); at most {MAX_RATIO}:1 is allowed"
            ]
        )
    return infos


def _size_problem(info: zipfile.ZipInfo) -> str | None:
    """What an entry's header says that is over a cap (depth, size, compression ratio)."""
    depth = len(PurePosixPath(info.filename).parts)
    if depth > MAX_DEPTH:
        return f"is {depth} levels deep; at most {MAX_DEPTH} is allowed"
    if info.file_size > MAX_ENTRY_BYTES:
        return f"is {info.file_size} bytes unzipped; an entry is at most {MAX_ENTRY_BYTES}"
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        return (
            f"inflates {ratio}:1 ({info.file_size} bytes from {info.compress_size}); "
            f"at most {MAX_RATIO}:1 is allowed"
        )
    return None


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_LISTED:
        return problems
    return [*problems[:_MAX_LISTED], f"... and {len(problems) - _MAX_LISTED} more"]


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    if "\\" in name:
        return "contains a backslash (zip paths use /)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "has a control character in its name"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the zip with '..'"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


# --------------------------------------------------------------------------------------------
# Vendoring requirements.txt
# --------------------------------------------------------------------------------------------


def pip_options_from_env() -> list[str]:
    """`ENVPORT_PIP_OPTIONS`, split like a shell would (e.g. `--no-index --find-links /wheels`).

    Unset: the local wheelhouse when it exists (offline builds), else pip's defaults.
    """
    raw = os.environ.get(PIP_OPTIONS_ENV)
    if raw is None:
        house = wheelhouse_dir()
        return ["--no-index", "--find-links", str(house)] if house.is_dir() else []
    return shlex.split(raw)


def wheelhouse_dir() -> Path:
    """Where `make venv` downloads the pinned wheels of `lambda_bundle/requirements.txt`."""
    return Path(os.environ.get(WHEELHOUSE_ENV) or DEFAULT_WHEELHOUSE)


def pip_command(
    requirements: Path,
    target: Path,
    *,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
    pip_options: Sequence[str] = (),
) -> list[str]:
    """What `sam build` runs: binary wheels for the Lambda platform only, into `target`.

    `--no-compile` because byte code would embed timestamps (and Lambda compiles on import).
    """
    return [
        sys.executable, "-m", "pip", "install",
        "--platform", PIP_PLATFORMS[architecture],
        "--implementation", "cp",
        "--python-version", RUNTIME_PYTHON[runtime],
        "--only-binary=:all:",
        "--target", str(target),
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        *pip_options,
        "-r", str(requirements),
    ]  # fmt: skip


def vendor_requirements(
    requirements: Path,
    *,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
    pip_options: Sequence[str] | None = None,
    limits: Limits = PIP_LIMITS,
) -> dict[str, bytes]:
    """Install the pins of the file `requirements` for the function's platform (`vendor_pins`)."""
    label = f"{requirements.parent.name}/{requirements.name}"
    try:
        data = read_regular(requirements, MAX_REQUIREMENTS_BYTES, label)
    except BundleError as exc:
        raise ArtifactError(exc.problems) from None
    return vendor_pins(
        data, label=label, runtime=runtime, architecture=architecture, pip_options=pip_options, limits=limits
    )


def vendor_pins(
    requirements: bytes,
    *,
    label: str = REQUIREMENTS,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
    pip_options: Sequence[str] | None = None,
    limits: Limits = PIP_LIMITS,
) -> dict[str, bytes]:
    """Install a requirements.txt's pins for the function's platform, in the build sandbox;
    every installed file by zip entry name.

    The file is read strictly (`pins.parse_pins`: exact pins, no pip options, refusals by line
    number) and pip gets a file written from the parsed pins, never the pipeline's. pip runs as
    `pip_invocation` says: wheels only (its argv and its environment both say so), only the
    configured source of wheels, an environment with nothing of the portal's, and `limits`.
    """
    try:
        pins = parse_pins(requirements, label)
    except PinError as exc:
        raise ArtifactError(exc.problems) from None
    if not pins:  # comments only: no pip run
        return {}
    options = pip_options_from_env() if pip_options is None else list(pip_options)
    problems = pip_option_problems(options)
    if problems:
        raise ArtifactError(problems)
    with tempfile.TemporaryDirectory(prefix="envport-vendor-") as tmp:
        home, target, pinned = Path(tmp) / "home", Path(tmp) / "site", Path(tmp) / REQUIREMENTS
        pinned.write_text(pins_file(pins))
        argv, env = pip_invocation(
            pinned, target, home, runtime=runtime, architecture=architecture, pip_options=options
        )
        try:
            done = run_limited(argv, env=env, limits=limits, cwd=home)
        except SandboxLimit as exc:
            raise ArtifactError(
                [
                    f"{label}: pip went over {exc.limit} installing the requirements "
                    f"(allowed: {limits.describe()})"
                ]
            ) from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            tail = " | ".join(line.strip() for line in lines[-6:] if line.strip())[:1000]
            raise ArtifactError(
                [
                    f"{label}: pip could not install the requirements as wheels for {runtime} on "
                    f"{architecture} ({PIP_PLATFORMS[architecture]}): {tail or f'exit {done.returncode}'}"
                ]
            )
        return _installed_files(target)


def pip_option_problems(options: Sequence[str]) -> list[str]:
    """The configured pip options may say where wheels come from (PIP_SOURCE_OPTIONS) and nothing
    else: an option that changes what is installed or how (--no-binary...) is the configuration's
    mistake, refused before pip runs."""
    problems: list[str] = []
    words = list(options)
    while words:
        word = words.pop(0)
        option, has_value, _ = word.partition("=")
        if option == "--no-index" and not has_value:
            continue
        if option in ("--find-links", "--index-url"):
            if not has_value and (not words or words.pop(0).startswith("-")):
                problems.append(f"{PIP_OPTIONS_ENV}: {option} needs a value")
            continue
        problems.append(
            f"{PIP_OPTIONS_ENV}: {option!r} is not allowed; only where wheels come from: "
            "--no-index, --find-links DIR, --index-url URL"
        )
    return problems


def pip_environment(home: Path, pip_options: Sequence[str] = ()) -> dict[str, str]:
    """pip's whole environment: the sandbox's allow-list (no AWS keys, database URL, secret key or
    any other variable of the portal's) with HOME and TMPDIR in the build's temporary folder, and
    pip's own settings, so no pip.conf, PIP_* variable or cache of the host's applies: wheels only
    (PIP_ONLY_BINARY, besides --only-binary in the argv), no index when the options say so."""
    settings = {
        "PIP_ONLY_BINARY": ":all:",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if "--no-index" in pip_options:
        settings["PIP_NO_INDEX"] = "1"
    return sandbox_env(home, settings)


def pip_invocation(
    requirements: Path,
    target: Path,
    home: Path,
    *,
    runtime: str = RUNTIME,
    architecture: str = ARCHITECTURE,
    pip_options: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment `vendor_pins` runs pip with (what the sandbox tests inspect)."""
    argv = pip_command(
        requirements, target, runtime=runtime, architecture=architecture, pip_options=pip_options
    )
    return argv, pip_environment(home, pip_options)


def _installed_files(target: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    if not target.is_dir():
        return files
    total = 0
    for path in sorted(target.rglob("*")):
        relative = path.relative_to(target)
        if any(part in _VENDOR_SKIP for part in relative.parts) or path.suffix == ".pyc":
            continue
        if relative.parts[0] == _VENDOR_SCRIPTS:
            continue
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > MAX_UNZIPPED_BYTES:
                raise ArtifactError(
                    [f"the vendored requirements exceed Lambda's unzipped {MAX_UNZIPPED_BYTES} bytes"]
                )
            data = path.read_bytes()
            if relative.name == "RECORD" and relative.parent.name.endswith(".dist-info"):
                data = _record_without_outside(data)
            files[relative.as_posix()] = data
    return files


def _record_without_outside(record: bytes) -> bytes:
    """A RECORD that lists only what the zip holds: with --target, pip records the scripts it
    wrote to `bin/` as `../../bin/NAME` with the hash of their machine-specific shebang."""
    lines = record.decode("utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("../")).encode("utf-8")


def _requirements_bytes(root: Path) -> bytes:
    """The folder's requirements.txt (b"" without one), read as `read_regular` reads: no link,
    no fifo, at most the size `pins` accepts."""
    path = root / REQUIREMENTS
    if not os.path.lexists(path):
        return b""
    return read_regular(path, MAX_REQUIREMENTS_BYTES, f"{root.name}/{REQUIREMENTS}")


# --------------------------------------------------------------------------------------------
# Storing: the artifact bucket
# --------------------------------------------------------------------------------------------


def artifact_location(clients: AwsClients, sha256_hex: str) -> S3Location:
    return S3Location(artifact_bucket(clients.account_id, clients.region), artifact_key(sha256_hex))


def stored_checksum(clients: AwsClients, location: S3Location) -> str | None:
    """The object's SHA-256 checksum (base64) as S3 verified it on upload; None when absent.

    `ExpectedBucketOwner` makes S3 refuse (403) a bucket of the same name in another account,
    so our code never goes to, or comes from, a bucket someone else created under our name.
    """
    head = unless_absent(
        lambda: clients.client("s3").head_object(
            Bucket=location.bucket,
            Key=location.key,
            ExpectedBucketOwner=clients.account_id,
            ChecksumMode="ENABLED",
        ),
        "404",
        "NoSuchKey",
        "NotFound",
    )
    if head is None:
        return None
    return str(head.get("ChecksumSHA256") or "") or None


def upload_artifact(clients: AwsClients, artifact: Artifact) -> S3Location:
    """Put the zip at `artifacts/<sha256>.zip` unless those bytes are already there.

    One HeadObject first: the same bytes are never uploaded twice. The upload carries the
    SHA-256 checksum we computed, so S3 refuses the object if what arrives differs. An object
    under the key whose checksum differs (overwritten by hand) is replaced: the key promises
    these bytes. The bucket itself is the `artifact_bucket` resource's job.
    """
    location = artifact_location(clients, artifact.sha256)
    if stored_checksum(clients, location) == artifact.sha256_b64:
        return location
    metadata = {
        "handler": artifact.handler,
        "runtime": artifact.runtime,
        "architecture": artifact.architecture,
        "built-at": artifact.built_at,
        "source": quote(artifact.source, safe="/:. "),
    }
    clients.client("s3").put_object(
        Bucket=location.bucket,
        Key=location.key,
        Body=artifact.data,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=artifact.sha256_b64,
        ContentType="application/zip",
        ExpectedBucketOwner=clients.account_id,
        Metadata=metadata,
        Tagging=f"{quote(REFERENCED_TAG, safe='')}=true",
    )
    return location


def require_stored(clients: AwsClients, sha256_hex: str) -> S3Location:
    """The location of an artifact that must already be in the bucket (deploy by reference)."""
    location = artifact_location(clients, sha256_hex)
    found = stored_checksum(clients, location)
    if found != code_sha256(sha256_hex):
        state = "is missing" if found is None else f"holds other bytes (SHA-256 {found})"
        raise ArtifactError(
            [f"artifact {sha256_hex}: {location.uri} {state}; build and upload it first (release --bundle)"]
        )
    return location


def fetch_artifact(
    clients: AwsClients, sha256_hex: str, *, source: str, handler: str | None = None
) -> Artifact:
    """Download a stored artifact, prove its hash, and validate it again (promotion, --artifact).

    The handler defaults to the one recorded in the object's metadata at upload.
    """
    if not SHA256_RE.fullmatch(sha256_hex):
        raise ArtifactError([f"artifact {sha256_hex!r} is not allowed; 64 lower-case hex digits"])
    location = artifact_location(clients, sha256_hex)
    try:
        response = clients.client("s3").get_object(
            Bucket=location.bucket, Key=location.key, ExpectedBucketOwner=clients.account_id
        )
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            raise ArtifactError([f"artifact {sha256_hex}: {location.uri} is missing"]) from None
        raise
    data = response["Body"].read()
    if hashlib.sha256(data).hexdigest() != sha256_hex:
        raise ArtifactError([f"artifact {sha256_hex}: {location.uri} holds other bytes"])
    metadata = response.get("Metadata") or {}
    return artifact_from_bytes(
        data,
        handler=handler or metadata.get("handler", ""),
        source=source,
        runtime=metadata.get("runtime", RUNTIME),
        architecture=metadata.get("architecture", ARCHITECTURE),
        built_at=metadata.get("built-at"),
    )


def set_referenced(clients: AwsClients, sha256_hex: str, referenced: bool) -> None:
    """Mark whether any release still refers to an artifact: the lifecycle rule expires `false`
    ones after a grace period (the release bookkeeping calls this; S3 never guesses)."""
    location = artifact_location(clients, sha256_hex)
    clients.client("s3").put_object_tagging(
        Bucket=location.bucket,
        Key=location.key,
        ExpectedBucketOwner=clients.account_id,
        Tagging={"TagSet": [{"Key": REFERENCED_TAG, "Value": "true" if referenced else "false"}]},
    )


__all__ = [
    "ARCHITECTURE",
    "REFERENCED_TAG",
    "RUNTIME",
    "Artifact",
    "ArtifactError",
    "S3Location",
    "artifact_from_bytes",
    "artifact_from_directory",
    "artifact_from_upload",
    "artifact_from_zip",
    "artifact_location",
    "build_artifact",
    "cached_artifact",
    "code_sha256",
    "default_artifact",
    "fetch_artifact",
    "handler_problems",
    "pip_command",
    "pip_environment",
    "pip_invocation",
    "pip_options_from_env",
    "require_stored",
    "set_referenced",
    "source_key",
    "upload_artifact",
    "vendor_pins",
    "vendor_requirements",
]
