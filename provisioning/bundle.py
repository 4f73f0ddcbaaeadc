"""The function's code: a deterministic zip of the repository's `lambda_bundle/` package (R-FN-2).

Lambda reports the SHA-256 of the deployed zip as `CodeSha256` (base64 of the digest). If the
same source always gives the same bytes, comparing that hash with the one of a fresh build tells
whether an upload is needed at all, so an unchanged bundle is never re-uploaded and a no-op run
stays a no-op. A zip is only reproducible if everything that normally varies is pinned: entry
order, timestamps, permissions, the creating system and the compression level. (The deflate
output also depends on the zlib build; one machine or one CI image gives stable hashes, and a
different zlib at worst causes one harmless re-upload.)

The zip holds the folder `lambda_bundle/` itself, because the handler is configured as
`lambda_bundle.handler.lambda_handler`. Before zipping, every module is parsed and its imports
are checked: the Lambda runtime offers only the standard library and boto3/botocore, so an
import of anything else (a third-party library, or the rest of this repository) would deploy
fine and then fail on the first request with `Runtime.ImportModuleError`. That failure is
caught here, at build time, instead.

`provisioning/artifacts.py` builds every artifact from these same parts: `collect_package` for a
folder zipped under its own name, `deterministic_zip`, and `check_bundle` with the `package`
whose imports are checked and the `vendored` top-level names (packages installed from its
requirements.txt, or the other top-level entries of a ready zip) it may import besides the
standard library and boto3/botocore.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .names import HANDLER
from .sandbox import MIB, Limits, SandboxLimit, run_limited, sandbox_env

# The handler names the package: its first dotted part is the folder at the top of the zip.
PACKAGE = HANDLER.split(".", 1)[0]
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / PACKAGE

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o644
COMPRESS_LEVEL = 9
# What the runtime provides besides the standard library.
RUNTIME_PACKAGES = frozenset({"boto3", "botocore"})
# The function runs on python3.12; these stdlib modules exist in 3.11 but were removed in 3.12,
# so a build on 3.11 must not accept them.
REMOVED_IN_RUNTIME = frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"})
RUNTIME_STDLIB = frozenset(sys.stdlib_module_names) - REMOVED_IN_RUNTIME

SKIP_DIRS = frozenset({"__pycache__", "tests", "test"})

# Bounds on what is read and parsed (a 2 KB zip can hold a 2 MB module whose parse takes seconds
# and hundreds of MB): the function's own modules are checked up to MAX_MODULE_BYTES each and
# MAX_CHECKED_BYTES together, and the check runs in a child under CHECK_LIMITS (bundle.sandbox).
MAX_MODULE_BYTES = 256 * 1024
MAX_CHECKED_BYTES = 8 * MIB
# A package folder or zip holds at most this many files, this many folders deep.
MAX_FILES = 20_000
MAX_DEPTH = 32
CHECK_LIMITS = Limits(cpu_s=20, memory_bytes=512 * MIB, file_bytes=MIB, wall_s=60)
_REPOSITORY = str(Path(__file__).resolve().parent.parent)
_METADATA_DIRS = (".dist-info", ".egg-info", ".data")  # what pip installs beside a package


class BundleError(ValueError):
    """The bundle cannot work once deployed; lists every problem found, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the Lambda bundle is not deployable:\n  " + "\n  ".join(problems))


def collect_package(root: Path, package: str) -> dict[str, bytes]:
    """Every module of the package folder `root`, as zip entry name (under `package/`) -> bytes.

    Only `*.py` files, skipping caches and tests: what the function imports, nothing else.
    Raises BundleError when `root` is no folder, holds no module, or holds what a zip would be
    refused for (`folder_problems`: a symbolic link, a fifo or device, too many files, too deep),
    or a module larger than MAX_MODULE_BYTES.
    """
    if not root.is_dir():
        raise BundleError([f"{root} is not a directory"])
    problems = folder_problems(root)
    if problems:
        raise BundleError(problems)
    sources: dict[str, bytes] = {}
    for arcname, path in _collect(root, package):
        sources[arcname] = read_regular(path, MAX_MODULE_BYTES, f"{package}/{path.relative_to(root)}")
    if not sources:
        raise BundleError([f"{root} holds no Python module"])
    return sources


def folder_problems(root: Path) -> list[str]:
    """What a package folder must not hold, each named by its path inside the folder.

    As a zip's symbolic-link entries are refused (`artifacts._entry_problem`), so are a folder's:
    a link would package (and upload) a file from outside the folder, and a fifo or device would
    hang or feed the build. Hidden folders and caches are not packaged and not looked into.
    """
    problems: list[str] = []
    count = 0
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        depth = len(here.relative_to(root).parts)
        if depth > MAX_DEPTH:
            problems.append(f"{here.relative_to(root)}: deeper than {MAX_DEPTH} folders is not allowed")
            dirnames[:] = []
            continue
        for name in [*dirnames, *sorted(filenames)]:
            if name.startswith("."):
                continue
            path = here / name
            count += 1
            kind = _special_kind(path)
            if kind is not None:
                problems.append(
                    f"{path.relative_to(root).as_posix()}: {kind} is not allowed in a package folder; "
                    "regular files and folders only"
                )
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
        if count > MAX_FILES:
            return [*problems, f"{root}: more than {MAX_FILES} files is not allowed"]
    return problems


def _special_kind(path: Path) -> str | None:
    """What `path` is when it is not a regular file or folder (without following a link)."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "a special file"
    return None


def read_regular(path: Path, limit: int, label: str) -> bytes:
    """A regular file's bytes, at most `limit` of them; BundleError naming `label` otherwise.

    Opened without following a link and without blocking, then checked on the open descriptor,
    so a file swapped for a link or a fifo after `folder_problems` looked is still refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise BundleError([f"{label}: cannot be read ({exc.strerror or 'error'})"]) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BundleError([f"{label}: is not a regular file; regular files and folders only"])
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise BundleError([f"{label}: larger than {limit} bytes is not allowed; at most {limit}"])
    return data


def _collect(root: Path, package: str = PACKAGE) -> Iterator[tuple[str, Path]]:
    """Every `*.py` under `root` as (entry name inside the zip, file), skipping caches and tests."""
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if is_function_module(relative.parts) and not path.is_symlink() and path.is_file():
            yield f"{package}/{relative.as_posix()}", path


def is_function_module(parts: tuple[str, ...]) -> bool:
    """Whether a file (path parts inside the package) is code the function runs: a `.py` file
    outside caches, hidden folders and tests, and no test module itself."""
    if not parts or not parts[-1].endswith(".py"):
        return False
    if any(part in SKIP_DIRS or part.startswith(".") for part in parts[:-1]):
        return False
    return not _is_test_file(parts[-1])


def _is_test_file(name: str) -> bool:
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def deterministic_zip(sources: Mapping[str, bytes]) -> bytes:
    """Bytes that depend on the entries' names and contents only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as zf:
        for arcname in sorted(sources):
            info = zipfile.ZipInfo(arcname, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, wherever it is built, so the mode bits mean the same
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, sources[arcname], compresslevel=COMPRESS_LEVEL)
    return buffer.getvalue()


def top_level_names(arcnames: Iterable[str]) -> frozenset[str]:
    """What `import NAME` finds at the root of a zip: its folders and its top-level modules.

    A folder counts with or without `__init__.py` (namespace packages); metadata folders
    (`*.dist-info`, `*.egg-info`), `bin/` and caches are not importable. A module is a `.py`
    file or a compiled extension (`name.cpython-312-aarch64-linux-gnu.so`, `name.abi3.so`).
    """
    names: set[str] = set()
    for arcname in arcnames:
        first, sep, _rest = arcname.partition("/")
        if sep:
            if not first.endswith(_METADATA_DIRS) and first not in ("bin", "__pycache__"):
                names.add(first)
        elif first.endswith((".py", ".so", ".pyd")):
            names.add(first.split(".", 1)[0])
    return frozenset(n for n in names if n.isidentifier())


# --------------------------------------------------------------------------------------------
# "Nothing it imports is missing from the zip"
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Module:
    name: str  # dotted, e.g. lambda_bundle.store
    arcname: str
    is_package: bool
    tree: ast.Module
    # Top-level names a `from module import name` can find; None when unknowable (star import,
    # module-level __getattr__).
    defined: frozenset[str] | None


# What an import of something missing is told to do, by default: the package is a folder whose
# requirements.txt the build vendors. `{module}` is the top-level name imported.
VENDOR_HINT = "list the package that provides {module!r} in requirements.txt"


@dataclass(frozen=True)
class _Scope:
    """Whose imports are checked (`package`, the function's own code) and what else they may use."""

    package: str
    vendored: frozenset[str]  # top-level names installed into the zip beside the package
    hint: str = VENDOR_HINT


def check_bundle(
    sources: Mapping[str, bytes],
    *,
    handler: str = HANDLER,
    package: str | None = None,
    vendored: Iterable[str] = (),
    hint: str = VENDOR_HINT,
    limits: Limits = CHECK_LIMITS,
) -> None:
    """Raise BundleError unless every import resolves and the handler function exists.

    `sources` maps zip entry names (`lambda_bundle/x.py`) to their bytes: the modules of
    `package` (default: the handler's first dotted part), whose imports are checked. `vendored`
    names the other top-level modules the zip holds (packages installed from requirements.txt):
    importing them is fine, and their own imports are their authors' business. `hint` is what a
    missing import is told to do (see VENDOR_HINT).

    Bounded: a module over MAX_MODULE_BYTES, or all of them over MAX_CHECKED_BYTES, is refused
    unparsed; the parsing runs in a child process under `limits` and without the portal's
    environment (`sandbox`), where a nesting too deep for the parser or the walk is a problem of
    its module, and a child that goes over a limit is a refusal naming it, never a MemoryError here.
    """
    scope = _Scope(package or handler.split(".", 1)[0], frozenset(vendored), hint)
    problems = [
        f"{arcname}: {len(data)} bytes is not allowed; a module of the function is at most "
        f"{MAX_MODULE_BYTES} bytes"
        for arcname, data in sorted(sources.items())
        if len(data) > MAX_MODULE_BYTES
    ]
    total = sum(len(data) for data in sources.values())
    if total > MAX_CHECKED_BYTES:
        problems.append(
            f"package {scope.package}: {total} bytes of modules is not allowed; at most {MAX_CHECKED_BYTES}"
        )
    if not problems:
        problems = _check_in_child(sources, handler, scope, limits)
    if problems:
        raise BundleError(problems)


def _check_in_child(sources: Mapping[str, bytes], handler: str, scope: _Scope, limits: Limits) -> list[str]:
    """`check_problems` in a child under `limits`: the problems it found, or the limit it hit."""
    request = {
        "sources": {name: base64.b64encode(data).decode("ascii") for name, data in sources.items()},
        "handler": handler,
        "package": scope.package,
        "vendored": sorted(scope.vendored),
        "hint": scope.hint,
    }
    code = f"import sys; sys.path.insert(0, {_REPOSITORY!r}); import provisioning.bundle as b; b._child()"
    with tempfile.TemporaryDirectory(prefix="envport-check-") as home:
        try:
            done = run_limited(
                [sys.executable, "-I", "-S", "-c", code],
                env=sandbox_env(Path(home)),
                limits=limits,
                cwd=Path(home),
                stdin=json.dumps(request).encode(),
            )
        except SandboxLimit as exc:
            return [
                f"the import check of package {scope.package} went over {exc.limit} "
                f"(allowed: {limits.describe()}); a module nests too deeply or is too large to check"
            ]
    try:
        answer = json.loads(done.stdout)
        return [str(p) for p in answer["problems"]]
    except (ValueError, KeyError, TypeError):
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1][:200] if lines else f"exit {done.returncode}"
        return [f"the import check of package {scope.package} failed: {last}"]


def _child() -> None:
    """The child's side of `_check_in_child`: a JSON request on stdin, the problems on stdout."""
    request = json.loads(sys.stdin.buffer.read())
    sources = {name: base64.b64decode(data) for name, data in request["sources"].items()}
    scope = _Scope(request["package"], frozenset(request["vendored"]), request["hint"])
    sys.stdout.write(json.dumps({"problems": check_problems(sources, request["handler"], scope)}))


def check_problems(sources: Mapping[str, bytes], handler: str, scope: _Scope) -> list[str]:
    """The import check itself, unbounded: run only in the child (`check_bundle`)."""
    problems: list[str] = []
    modules: dict[str, _Module] = {}
    unparsed: set[str] = set()
    for arcname in sorted(sources):
        try:
            parsed = _parse(arcname, sources[arcname])
        except SyntaxError as exc:
            where = f"{arcname}:{exc.lineno}" if exc.lineno else arcname
            problems.append(f"{where}: does not parse: {exc.msg}")
        except (MemoryError, RecursionError):  # the parser's nesting limit, or the child's memory
            problems.append(
                f"{arcname}: nests too deeply or is too large to parse within the check's limits; "
                "split the expression or the module"
            )
        except ValueError as exc:  # a null byte, in some versions
            problems.append(f"{arcname}: does not parse: {exc}")
        else:
            modules[parsed.name] = parsed
            continue
        unparsed.add(_module_name(arcname)[0])
    for module in modules.values():
        try:
            problems.extend(_import_problems(module, modules, scope))
        except RecursionError:
            problems.append(f"{module.arcname}: nests too deeply to check its imports; split the expression")
    if handler.rpartition(".")[0] not in unparsed:  # its problem is already said
        problems.extend(_handler_problems(handler, modules))
    return problems


def _module_name(arcname: str) -> tuple[str, bool]:
    """The dotted module an entry is, and whether it is a package's `__init__`."""
    parts = arcname[: -len(".py")].split("/")
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _parse(arcname: str, source: bytes) -> _Module:
    name, is_package = _module_name(arcname)
    tree = ast.parse(source, filename=arcname)
    return _Module(name, arcname, is_package, tree, _top_level_names(tree))


def _top_level_names(tree: ast.Module) -> frozenset[str] | None:
    names: set[str] = set()
    for node in _walk_top_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".", 1)[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):  # the common case, without a walk
                    names.add(target.id)
                else:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return None if "__getattr__" in names else frozenset(names)


def _walk_top_level(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking into if/try blocks (names defined conditionally count)."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _walk_top_level(node.body)
            yield from _walk_top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _walk_top_level(block)


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, in source order: those under `if TYPE_CHECKING:`
    never do. Imports are statements, so only blocks of statements are walked (never into an
    expression), with a stack of its own: cheap on a long module, and a deep one is only deep."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(reversed(node.orelse))
            continue
        children: list[ast.AST] = []
        for name in node._fields:
            block = getattr(node, name, None)
            if isinstance(block, list) and block and isinstance(block[0], _BLOCK_NODES):
                children.extend(block)
        stack.extend(reversed(children))


_BLOCK_NODES = (ast.stmt, ast.excepthandler, ast.match_case)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_problems(module: _Module, modules: dict[str, _Module], scope: _Scope) -> Iterator[str]:
    for node in _runtime_imports(module.tree):
        where = f"{module.arcname}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _absolute_problems(where, alias.name, modules, scope)
            continue
        if node.level == 0:
            target = node.module or ""
            problems = list(_absolute_problems(where, target, modules, scope))
            yield from problems
            if problems or target.split(".", 1)[0] != scope.package:
                continue  # outside the bundle: the runtime's, and names in it are its business
        else:
            base = _resolve_relative(module, node.level)
            if base is None:
                yield f"{where}: relative import (level {node.level}) reaches above package {scope.package}"
                continue
            target = ".".join(p for p in (base, node.module) if p)
            if target not in modules:
                yield f"{where}: imports {target}, which is not a module of the bundle"
                continue
        yield from _name_problems(where, modules[target], [alias.name for alias in node.names], modules)


def _absolute_problems(where: str, name: str, modules: dict[str, _Module], scope: _Scope) -> Iterator[str]:
    top = name.split(".", 1)[0]
    if top == scope.package:
        if name not in modules:
            yield f"{where}: imports {name}, which is not a module of the bundle"
    elif top not in RUNTIME_STDLIB and top not in RUNTIME_PACKAGES and top not in scope.vendored:
        vendored = ", ".join(sorted(scope.vendored)) or "none"
        yield (
            f"{where}: imports {top!r}, which is neither the python3.12 standard library, "
            f"boto3/botocore, nor a module inside the bundle or vendored in it (vendored: {vendored}; "
            f"{scope.hint.format(module=top)})"
        )


def _resolve_relative(module: _Module, level: int) -> str | None:
    """The package a `from .` (level 1), `from ..` (level 2)... import starts from."""
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    keep = len(package) - (level - 1)
    return ".".join(package[:keep]) if keep >= 1 else None


def _name_problems(
    where: str, target: _Module, names: list[str], modules: dict[str, _Module]
) -> Iterator[str]:
    """`from target import name`: a submodule of the package, or a name the module defines."""
    for name in names:
        if name == "*" or target.defined is None or name in target.defined:
            continue
        if target.is_package and f"{target.name}.{name}" in modules:
            continue
        yield f"{where}: imports {name!r} from {target.name}, which neither defines it nor has that submodule"


def _handler_problems(handler: str, modules: dict[str, _Module]) -> Iterator[str]:
    module_name, _, function = handler.rpartition(".")
    module = modules.get(module_name)
    if module is None:
        yield f"the handler {handler} needs module {module_name}, which is not in the bundle"
        return
    if module.defined is not None and function not in module.defined:
        yield f"the handler {handler}: {module.arcname} defines no {function!r}"
