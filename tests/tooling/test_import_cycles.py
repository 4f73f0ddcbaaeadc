"""No import cycles, in any package of the project: the portal, the engine, the local cloud, the
quota table and the two function bundles.

`lint-imports` checks the local cloud too (an ``acyclic_siblings`` contract in pyproject.toml: no
cycle between its service packages, nor between the modules of one package); this test looks at
modules, every package of the project, and names each cycle it finds.

grimp reads ``from pkg import submodule`` as an import of ``pkg.submodule`` alone, but Python runs
``pkg/__init__.py`` for it and reads the name from the package: the statement depends on the
package as well (a 7-module cycle in the local cloud went through ``from localcloud import
time_scale`` unseen). `_package_edges` adds those edges from the source.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]

ACYCLIC = ("portal", "provisioning", "localcloud", "awsquotas", "lambda_bundle", "authorizer_bundle")


def _cycles(package: str) -> list[frozenset[str]]:
    """The strongly connected components of ``package``'s module import graph with two modules or
    more (Tarjan's algorithm, iterative)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(package, cache_dir=None)
    modules = sorted(graph.modules)
    extra = _package_edges(package, set(graph.modules))

    def edges(module: str) -> Iterable[str]:
        direct = {m for m in graph.find_modules_directly_imported_by(module) if m in graph.modules}
        return sorted(direct | extra.get(module, set()))

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in modules:
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(edges(root)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges(nxt))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _package_edges(package: str, modules: set[str]) -> dict[str, set[str]]:
    """module -> the packages it names in ``from <package> import <submodule>`` (relative forms
    included), read from the source."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, package
    root = Path(spec.origin).parent
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        if module not in modules:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source == module or source not in modules:
                continue
            if any(f"{source}.{alias.name}" in modules for alias in node.names):
                found.setdefault(module, set()).add(source)
    return found


def _describe(cycle: frozenset[str]) -> str:
    return " <-> ".join(sorted(cycle))


@pytest.mark.parametrize("package", ACYCLIC)
def test_no_package_has_an_import_cycle(package: str) -> None:
    cycles = _cycles(package)
    assert not cycles, f"import cycles in {package}: " + "; ".join(_describe(c) for c in cycles)


def test_the_cycle_finder_finds_a_ring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check can fail: a package of three modules importing one another in a ring is one cycle."""
    package = tmp_path / "ringpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from ringpkg import b\n")
    (package / "b.py").write_text("from ringpkg import c\n")
    (package / "c.py").write_text("import ringpkg.a\n")
    (package / "d.py").write_text("from ringpkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles("ringpkg") == [frozenset({"ringpkg.a", "ringpkg.b", "ringpkg.c"})]


def test_from_a_package_import_a_submodule_depends_on_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from pkg import sub`` runs ``pkg/__init__.py``: a package whose ``__init__`` imports a
    module that does so is a cycle, though each statement names a submodule (absolute or relative)."""
    for name, importer in (("abspkg", "from abspkg import clock\n"), ("relpkg", "from . import clock\n")):
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text(f"from {name}.server import serve\n")
        (package / "server.py").write_text(importer + "def serve():\n    return clock\n")
        (package / "clock.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles("abspkg") == [frozenset({"abspkg", "abspkg.server"})]
    assert _cycles("relpkg") == [frozenset({"relpkg", "relpkg.server"})]
