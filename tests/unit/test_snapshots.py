import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.registry import MessageRegistry
from schemas.snapshots import check, export

ROOT = Path(__file__).resolve().parents[2]


def snapshot_of(model: type[BaseModel], tmp_path: Path) -> MessageRegistry:
    registry = MessageRegistry()
    registry.register("thing", 1)(model)
    export(tmp_path, registry)
    return registry


def changed_to(model: type[BaseModel]) -> MessageRegistry:
    registry = MessageRegistry()
    registry.register("thing", 1)(model)
    return registry


class Original(BaseModel):
    name: str
    size: int = 0


class Additive(BaseModel):
    name: str
    size: int = 0
    colour: str = "red"


class Removed(BaseModel):
    name: str


class Retyped(BaseModel):
    name: str
    size: str = ""


class NewRequired(BaseModel):
    name: str
    size: int = 0
    owner: str


def kinds(tmp_path: Path, model: type[BaseModel]) -> list[str]:
    return [p.kind for p in check(tmp_path, changed_to(model))]


def test_identical_models_pass(tmp_path: Path) -> None:
    registry = snapshot_of(Original, tmp_path)
    assert check(tmp_path, registry) == []


def test_additive_change_is_drift_to_export(tmp_path: Path) -> None:
    snapshot_of(Original, tmp_path)
    assert kinds(tmp_path, Additive) == ["drift"]


def test_breaking_changes_need_a_new_version(tmp_path: Path) -> None:
    snapshot_of(Original, tmp_path)
    assert kinds(tmp_path, Removed) == ["breaking"]
    assert kinds(tmp_path, Retyped) == ["breaking"]
    problems = check(tmp_path, changed_to(NewRequired))
    assert [p.kind for p in problems] == ["breaking"]
    assert "owner became required" in problems[0].detail


def test_missing_and_orphan_snapshots(tmp_path: Path) -> None:
    assert [p.kind for p in check(tmp_path, changed_to(Original))] == ["missing"]
    snapshot_of(Original, tmp_path)
    assert [p.kind for p in check(tmp_path, MessageRegistry())] == ["orphan"]


def test_committed_snapshots_match_the_models() -> None:
    # In a fresh interpreter: test-only contracts registered by other tests stay out.
    run = subprocess.run(
        [sys.executable, "-m", "mesh", "schemas", "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
