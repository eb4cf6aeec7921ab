"""Committed JSON Schema snapshots of every registered `(type, version)`.

`check` compares the live models with the committed files: an identical schema
passes; an additive change (new optional fields) is reported as drift to accept
with `mesh schemas export`; anything else is a breaking change that needs a new
version and an upcaster.

A contract's snapshots are committed in `snapshots/` of the top-level package that
defines it: the mesh's own messages in `schemas/snapshots/`, the reference
application's in `agents/snapshots/`. Only registered contracts are checked: the CLI
imports the application's contracts modules (`MESH_CONTRACTS`) first.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from schemas.registry import REGISTRY, MessageRegistry

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"  # the mesh's own messages


@dataclass(frozen=True)
class SnapshotProblem:
    type: str
    version: int
    kind: Literal["missing", "drift", "breaking", "orphan"]
    detail: str

    def __str__(self) -> str:
        return f"{self.type} v{self.version}: {self.kind}: {self.detail}"


def snapshot_path(directory: Path, type_: str, version: int) -> Path:
    return directory / f"{type_}.v{version}.json"


def current_schema(registry: MessageRegistry, type_: str, version: int) -> dict[str, Any]:
    return registry.model_for(type_, version).model_json_schema()


def snapshot_dir(model: type[BaseModel]) -> Path:
    """Where `model`'s snapshots are committed: `snapshots/` in its top-level package."""
    top = sys.modules[model.__module__.partition(".")[0]]
    if top.__file__ is not None:  # a package's __init__.py, or a top-level module
        return Path(top.__file__).parent / "snapshots"
    return Path(next(iter(getattr(top, "__path__", ["."])))) / "snapshots"  # a namespace


def export(directory: Path | None = None, registry: MessageRegistry = REGISTRY) -> list[Path]:
    """Write one snapshot file per registered `(type, version)`; returns the paths.

    Each goes to `directory`, or by default to its defining package's (`snapshot_dir`).
    """
    written = []
    for where, keys in _by_directory(registry, directory).items():
        where.mkdir(parents=True, exist_ok=True)
        for type_, version in keys:
            path = snapshot_path(where, type_, version)
            schema = current_schema(registry, type_, version)
            path.write_bytes(
                orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            )
            written.append(path)
    return written


def check(
    directory: Path | None = None, registry: MessageRegistry = REGISTRY
) -> list[SnapshotProblem]:
    """Every difference between the live models and the committed snapshots, in
    `directory` or by default in each defining package's (`snapshot_dir`)."""
    problems = []
    for where, keys in _by_directory(registry, directory).items():
        problems.extend(_check_directory(where, keys, registry))
    return problems


def _by_directory(
    registry: MessageRegistry, directory: Path | None
) -> dict[Path, list[tuple[str, int]]]:
    groups: dict[Path, list[tuple[str, int]]] = defaultdict(list)
    if directory is not None:
        groups[directory] = []  # checked for orphans even when nothing is registered
    for type_, version in registry.registered():
        model = registry.model_for(type_, version)
        groups[directory or snapshot_dir(model)].append((type_, version))
    return dict(groups)


def _check_directory(
    directory: Path, keys: list[tuple[str, int]], registry: MessageRegistry
) -> list[SnapshotProblem]:
    problems = []
    known = set()
    for type_, version in keys:
        path = snapshot_path(directory, type_, version)
        known.add(path.name)
        if not path.exists():
            problems.append(SnapshotProblem(type_, version, "missing", f"no {path.name}"))
            continue
        old = orjson.loads(path.read_bytes())
        new = current_schema(registry, type_, version)
        if old == new:
            continue
        breaks = breaking_changes(old, new)
        if breaks:
            problems.append(SnapshotProblem(type_, version, "breaking", "; ".join(breaks)))
        else:
            problems.append(
                SnapshotProblem(type_, version, "drift", "additive change not exported")
            )
    for path in sorted(directory.glob("*.json")):
        if path.name not in known:
            type_, _, rest = path.name.removesuffix(".json").rpartition(".v")
            problems.append(
                SnapshotProblem(type_, int(rest or 0), "orphan", "snapshot of a removed model")
            )
    return problems


def breaking_changes(old: dict[str, Any], new: dict[str, Any], where: str = "") -> list[str]:
    """Changes that would make a message valid under `old` fail under `new`, or vice versa.

    Allowed: new optional properties, new `$defs`, changed titles/descriptions, and
    fields newly marked sensitive (`schemas.redaction`).
    """
    found: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, schema in old_props.items():
        if name not in new_props:
            found.append(f"{where}{name} removed")
        elif _strip_docs(schema) != _strip_docs(new_props[name]):
            found.append(f"{where}{name} changed type or constraints")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    found.extend(f"{where}{name} became required" for name in sorted(newly_required))
    for name, schema in old.get("$defs", {}).items():
        new_def = new.get("$defs", {}).get(name)
        if new_def is None:
            found.append(f"definition {name} removed")
        else:
            found.extend(breaking_changes(schema, new_def, where=f"{name}."))
    return found


_ANNOTATIONS = frozenset({"title", "description", "sensitive"})  # no effect on validity


def _strip_docs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_docs(v) for k, v in schema.items() if k not in _ANNOTATIONS}
    if isinstance(schema, list):
        return [_strip_docs(v) for v in schema]
    return schema
