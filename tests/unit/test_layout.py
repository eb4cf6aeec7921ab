"""The layout rules of ADR 019, checked on every run.

import-linter keeps the layers (pyproject.toml); these are the rules it cannot say:
a private module (`_name.py`) is imported only from inside its own package, and no
module or function grows past the size a reader can hold at once.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mesh", "schemas", "agents", "examples")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _private_owner(module: str) -> str | None:
    """The package a private module belongs to (`mesh.runtime` for
    `mesh.runtime._admission`), or None when no part of the name is private."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_private_modules_are_imported_only_inside_their_package() -> None:
    strays = []
    for path in _sources():
        importer = _module_name(path)
        for name in _imported(path):
            owner = _private_owner(name)
            if owner is not None and not (importer == owner or importer.startswith(owner + ".")):
                strays.append(f"{importer} imports {name}")
    assert not strays, "private modules used outside their package:\n" + "\n".join(strays)


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path: Path) -> None:
    source = path.read_text()
    assert source.count("\n") <= MAX_MODULE_LINES, f"{path.name} is over {MAX_MODULE_LINES} lines"
    long = [
        f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
