"""Schema snapshots: additive changes are drift, anything else is breaking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.registry import MessageRegistry
from schemas.snapshots import breaking_changes, check, export, snapshot_path

ROOT = Path(__file__).resolve().parents[2]


class Owner(BaseModel):
    email: str


class Original(BaseModel):
    """The committed shape."""

    name: str
    size: int = 0
    owner: Owner | None = None


class Redocumented(BaseModel):
    """Only the docs changed."""

    name: str
    size: int = 0
    owner: Owner | None = None


class Additive(BaseModel):
    name: str
    size: int = 0
    owner: Owner | None = None
    colour: str = "red"


class Removed(BaseModel):
    name: str
    owner: Owner | None = None


class Retyped(BaseModel):
    name: str
    size: str = ""
    owner: Owner | None = None


class NewRequired(BaseModel):
    name: str
    size: int = 0
    owner: Owner | None = None
    region: str


def schema(model: type[BaseModel]) -> dict[str, object]:
    return model.model_json_schema()


def registry_of(model: type[BaseModel], type_: str = "thing", version: int = 1) -> MessageRegistry:
    registry = MessageRegistry()
    registry.register(type_, version)(model)
    return registry


def committed(tmp_path: Path, model: type[BaseModel]) -> Path:
    """Export `model` as the committed snapshot of `thing` v1 into `tmp_path`."""
    (path,) = export(tmp_path, registry_of(model))
    assert path == snapshot_path(tmp_path, "thing", 1)
    return path


# -- breaking_changes ------------------------------------------------------------------


def test_identical_schemas_have_no_breaking_change() -> None:
    assert breaking_changes(schema(Original), schema(Original)) == []


def test_titles_and_descriptions_do_not_matter() -> None:
    assert schema(Original) != schema(Redocumented)
    assert breaking_changes(schema(Original), schema(Redocumented)) == []


def test_a_new_optional_field_is_not_breaking() -> None:
    assert breaking_changes(schema(Original), schema(Additive)) == []


def test_removed_retyped_and_newly_required_fields_are_breaking() -> None:
    assert breaking_changes(schema(Original), schema(Removed)) == ["size removed"]
    assert breaking_changes(schema(Original), schema(Retyped)) == [
        "size changed type or constraints"
    ]
    assert breaking_changes(schema(Original), schema(NewRequired)) == ["region became required"]


def test_changes_inside_nested_definitions_are_found() -> None:
    class OwnerV2(BaseModel):
        email: str
        phone: str  # newly required inside the nested model

    class WithOwnerV2(BaseModel):
        name: str
        size: int = 0
        owner: OwnerV2 | None = None

    old = schema(Original)
    new = schema(WithOwnerV2)
    new["$defs"] = {"Owner": new["$defs"].pop("OwnerV2")}  # type: ignore[attr-defined]
    new["properties"]["owner"] = old["properties"]["owner"]  # type: ignore[index]
    assert breaking_changes(old, new) == ["Owner.phone became required"]

    del new["$defs"]
    assert breaking_changes(old, new) == ["definition Owner removed"]


# -- check -------------------------------------------------------------------------------


def test_an_identical_model_passes(tmp_path: Path) -> None:
    committed(tmp_path, Original)
    assert check(tmp_path, registry_of(Original)) == []
    assert check(tmp_path, registry_of(Redocumented)) != []  # docs differ: drift, not silence


def test_an_added_optional_field_is_drift(tmp_path: Path) -> None:
    committed(tmp_path, Original)
    (problem,) = check(tmp_path, registry_of(Additive))
    assert (problem.type, problem.version, problem.kind) == ("thing", 1, "drift")
    assert str(problem) == "thing v1: drift: additive change not exported"


def test_a_removed_field_is_breaking(tmp_path: Path) -> None:
    committed(tmp_path, Original)
    (problem,) = check(tmp_path, registry_of(Removed))
    assert problem.kind == "breaking"
    assert problem.detail == "size removed"


def test_a_changed_type_is_breaking(tmp_path: Path) -> None:
    committed(tmp_path, Original)
    (problem,) = check(tmp_path, registry_of(Retyped))
    assert problem.kind == "breaking"
    assert "size changed type" in problem.detail


def test_a_new_required_field_is_breaking(tmp_path: Path) -> None:
    committed(tmp_path, Original)
    (problem,) = check(tmp_path, registry_of(NewRequired))
    assert problem.kind == "breaking"
    assert problem.detail == "region became required"


def test_a_model_without_snapshot_is_missing(tmp_path: Path) -> None:
    (problem,) = check(tmp_path, registry_of(Original))
    assert (problem.type, problem.version, problem.kind) == ("thing", 1, "missing")
    assert "thing.v1.json" in problem.detail


def test_a_snapshot_without_model_is_an_orphan(tmp_path: Path) -> None:
    committed(tmp_path, Original)
    problems = check(tmp_path, registry_of(Original, "other.thing", 3))
    assert [(p.type, p.version, p.kind) for p in problems] == [
        ("other.thing", 3, "missing"),
        ("thing", 1, "orphan"),
    ]


def test_export_then_check_is_clean_for_several_versions(tmp_path: Path) -> None:
    registry = registry_of(Original)
    registry.register("thing", 2)(NewRequired)
    export(tmp_path, registry)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.v1.json", "thing.v2.json"]
    assert check(tmp_path, registry) == []


def test_the_committed_snapshots_match_the_models() -> None:
    # A fresh interpreter: contracts that tests register (`test.*`) stay out of it.
    run = subprocess.run(
        [sys.executable, "-m", "mesh", "schemas", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
