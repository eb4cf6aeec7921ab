"""Committed JSON Schema snapshots of every registered `(type, version)`.

`check` compares the live models with the files under `schemas/snapshots/`:
an identical schema passes; an additive change (new optional fields) is reported
as drift to accept with `mesh schemas export`; anything else is a breaking change
that needs a new version and an upcaster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from schemas.registry import REGISTRY, MessageRegistry

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"


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


def export(directory: Path = SNAPSHOT_DIR, registry: MessageRegistry = REGISTRY) -> list[Path]:
    """Write one snapshot file per registered `(type, version)`; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for type_, version in registry.registered():
        path = snapshot_path(directory, type_, version)
        schema = current_schema(registry, type_, version)
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        written.append(path)
    return written


def check(
    directory: Path = SNAPSHOT_DIR, registry: MessageRegistry = REGISTRY
) -> list[SnapshotProblem]:
    """Every difference between the live models and the committed snapshots."""
    problems = []
    known = set()
    for type_, version in registry.registered():
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
