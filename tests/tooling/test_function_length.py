"""No function over 80 lines in product code (the portal, the engine, the local cloud, the two
function bundles): a function that long does several things, and each deserves a name.

A function's length runs from its ``def`` line to its last line (decorators not counted; nested
functions count in their parent and on their own). There is no exception.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "provisioning", "localcloud", "lambda_bundle", "authorizer_bundle")
MAX_LINES = 80


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, int]]:
    """(qualified name, length in lines) of every function in ``tree``, nested ones included."""
    found: list[tuple[str, int]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{node.name}"
            found.append((name, (node.end_lineno or node.lineno) - node.lineno + 1))
            found.extend(_functions(node, f"{name}."))
        elif isinstance(node, ast.ClassDef):
            found.extend(_functions(node, f"{prefix}{node.name}."))
        else:
            found.extend(_functions(node, prefix))
    return found


def long_functions(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, int]:
    """``path::name`` -> length of every function over MAX_LINES under ``root``'s ``packages``."""
    found: dict[str, int] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for name, length in _functions(tree):
                if length > MAX_LINES:
                    found[f"{path.relative_to(root).as_posix()}::{name}"] = length
    return found


@pytest.mark.heavy
def test_no_function_is_over_80_lines() -> None:
    found = long_functions(ROOT)
    assert not found, f"functions over {MAX_LINES} lines: {found}"


@pytest.mark.parametrize(("body_lines", "flagged"), [(79, False), (80, True)])
def test_the_check_counts_from_def_to_the_last_line(tmp_path: Path, body_lines: int, flagged: bool) -> None:
    """A function of 81 lines (def + 80) is flagged, one of 80 is not; methods are named by class."""
    package = tmp_path / "pkg"
    package.mkdir()
    body = "".join(f"        x{i} = {i}\n" for i in range(body_lines))
    (package / "mod.py").write_text(f"class Thing:\n    def method(self) -> None:\n{body}")
    found = long_functions(tmp_path, ("pkg",))
    assert found == ({"pkg/mod.py::Thing.method": body_lines + 1} if flagged else {})
