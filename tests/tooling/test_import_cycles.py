"""No import cycles, in any package of the project: the portal, the engine, the local cloud, the
quota table and the two function bundles.

`lint-imports` checks the local cloud too (an ``acyclic_siblings`` contract in pyproject.toml: no
cycle between its service packages, nor between the modules of one package); this test looks at
modules, every package of the project, and names each cycle it finds.
"""

from __future__ import annotations

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

    def edges(module: str) -> Iterable[str]:
        return sorted(m for m in graph.find_modules_directly_imported_by(module) if m in graph.modules)

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
