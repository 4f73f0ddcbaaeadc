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
import hashlib
import io
import stat
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .names import HANDLER

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
_METADATA_DIRS = (".dist-info", ".egg-info", ".data")  # what pip installs beside a package


class BundleError(ValueError):
    """The bundle cannot work once deployed; lists every problem found, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the Lambda bundle is not deployable:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Bundle:
    """A built zip: its bytes, Lambda's `CodeSha256` for them, and the entries it holds."""

    data: bytes
    sha256_b64: str
    files: tuple[str, ...]


def build_bundle(root: Path | None = None, *, handler: str = HANDLER) -> Bundle:
    """Zip the package at `root` deterministically, its sources only (nothing vendored).

    Raises BundleError when the handler is missing or a module imports something the zip and
    the runtime do not provide; the repository's own `lambda_bundle/` imports Powertools, so
    its zip comes from `artifacts.default_artifact`, which vendors its requirements.txt.
    """
    root = DEFAULT_ROOT if root is None else Path(root)
    sources = collect_package(root, handler.split(".", 1)[0])
    check_bundle(sources, handler=handler)
    data = deterministic_zip(sources)
    return Bundle(
        data=data,
        sha256_b64=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"),
        files=tuple(sorted(sources)),
    )


def collect_package(root: Path, package: str) -> dict[str, bytes]:
    """Every module of the package folder `root`, as zip entry name (under `package/`) -> bytes.

    Only `*.py` files, skipping caches and tests: what the function imports, nothing else.
    Raises BundleError when `root` is no folder or holds no module.
    """
    if not root.is_dir():
        raise BundleError([f"{root} is not a directory"])
    sources = {arcname: path.read_bytes() for arcname, path in _collect(root, package)}
    if not sources:
        raise BundleError([f"{root} holds no Python module"])
    return sources


def _collect(root: Path, package: str = PACKAGE) -> Iterator[tuple[str, Path]]:
    """Every `*.py` under `root` as (entry name inside the zip, file), skipping caches and tests."""
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if is_function_module(relative.parts) and path.is_file():
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


@dataclass(frozen=True)
class _Scope:
    """Whose imports are checked (`package`, the function's own code) and what else they may use."""

    package: str
    vendored: frozenset[str]  # top-level names installed into the zip beside the package


def check_bundle(
    sources: Mapping[str, bytes],
    *,
    handler: str = HANDLER,
    package: str | None = None,
    vendored: Iterable[str] = (),
) -> None:
    """Raise BundleError unless every import resolves and the handler function exists.

    `sources` maps zip entry names (`lambda_bundle/x.py`) to their bytes: the modules of
    `package` (default: the handler's first dotted part), whose imports are checked. `vendored`
    names the other top-level modules the zip holds (packages installed from requirements.txt):
    importing them is fine, and their own imports are their authors' business.
    """
    scope = _Scope(package or handler.split(".", 1)[0], frozenset(vendored))
    problems: list[str] = []
    modules: dict[str, _Module] = {}
    for arcname in sorted(sources):
        try:
            parsed = _parse(arcname, sources[arcname])
        except SyntaxError as exc:
            problems.append(f"{arcname}:{exc.lineno}: does not parse: {exc.msg}")
            continue
        modules[parsed.name] = parsed
    for module in modules.values():
        problems.extend(_import_problems(module, modules, scope))
    problems.extend(_handler_problems(handler, modules))
    if problems:
        raise BundleError(problems)


def _parse(arcname: str, source: bytes) -> _Module:
    parts = arcname[: -len(".py")].split("/")
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    tree = ast.parse(source, filename=arcname)
    return _Module(".".join(parts), arcname, is_package, tree, _top_level_names(tree))


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
    """Every import statement that can run: those under `if TYPE_CHECKING:` never do."""
    if isinstance(tree, ast.Import | ast.ImportFrom):
        yield tree
        return
    if isinstance(tree, ast.If) and _is_type_checking(tree.test):
        for node in tree.orelse:
            yield from _runtime_imports(node)
        return
    for child in ast.iter_child_nodes(tree):
        yield from _runtime_imports(child)


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
            f"list the package that provides {top!r} in requirements.txt)"
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
