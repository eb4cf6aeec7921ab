"""Several agent types in one process: `mesh run A B`'s arguments, and `mesh dev`'s
choice of one `mesh run` for its agents or one each (MESH_DEV_AGENT_PROCESSES, ADR 052)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.cli._services import specs_once
from mesh.cli.main import build_parser
from mesh.dev._children import agent_processes, plan_children
from mesh.dev.devserver import run_dev
from mesh.errors import UsageError

TWO = {"agents.triage:agent": "triage", "agents.knowledge:agent": "knowledge"}


def test_run_takes_one_spec_or_several_and_refuses_one_given_twice() -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "a:x"]).specs == ["a:x"]
    assert parser.parse_args(["run", "a:x", "b:y"]).specs == ["a:x", "b:y"]
    assert specs_once(["a:x", "b:y"]) == ["a:x", "b:y"]
    with pytest.raises(UsageError, match=r"^agent spec 'a:x' given twice: give each once$"):
        specs_once(["a:x", "b:y", "a:x"])


Planned = tuple[list[str], str, tuple[str, ...]]  # a child's mesh arguments, label, banner lines


def _plans(agents: dict[str, str], **processes: str) -> list[Planned]:
    plans = plan_children(
        agents,
        model=None,
        supervisor=False,
        gateway_url=None,
        extra_commands=[],
        environment={"MESH_METRICS_PORT": "-1"},  # no free port to pick
        **processes,
    )
    return [(plan.argv[3:], plan.label, plan.banner_labels) for plan in plans]


def test_dev_runs_its_agents_in_one_process_unless_told_each() -> None:
    triage, knowledge = "triage (agents.triage:agent)", "knowledge (agents.knowledge:agent)"
    assert _plans(TWO) == [
        (["run", *TWO], "agents (triage, knowledge)", (triage, knowledge))  # a banner line each
    ]
    assert _plans(TWO, processes="each") == [
        (["run", "agents.triage:agent"], triage, ()),
        (["run", "agents.knowledge:agent"], knowledge, ()),
    ]
    one = {"agents.triage:agent": "triage"}
    assert _plans(one) == _plans(one, processes="each") == [(["run", *one], triage, ())]


async def test_the_agent_processes_setting_is_checked_before_anything_starts(
    tmp_path: Path,
) -> None:
    assert agent_processes({}) == "one"
    assert agent_processes({"MESH_DEV_AGENT_PROCESSES": " Each "}) == "each"
    with pytest.raises(UsageError, match=r"MESH_DEV_AGENT_PROCESSES='many': set it to 'one'"):
        agent_processes({"MESH_DEV_AGENT_PROCESSES": "many"})
    bad = {"MESH_DEV_AGENT_PROCESSES": "many"}
    with pytest.raises(UsageError, match="MESH_DEV_AGENT_PROCESSES"):
        await run_dev(agents=[], bootstrap_servers=None, env=bad, directory=tmp_path)
    assert not (tmp_path / ".mesh").exists()  # nothing started, nothing written
