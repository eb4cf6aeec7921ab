"""The research desk in one process (mesh.testing) against the scripted model double:
a report with citations from the corpus, findings before the end, steers ("focus on",
"drop") and a cancel that stops every branch. The double's `ResearchScript` holds
reading calls to catch the desk mid-work (tests/research_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from agents.contracts import ResearchReport
from agents.research import agent as research
from agents.research.corpus import python_reference
from agents.research.library import retriever
from agents.researcher import agent as researcher
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskState, TaskStatus
from tests.helpers import eventually
from tests.model_double import ModelDouble
from tests.research_support import PLAN, EventLog, ResearchScript

QUESTION = {"question": "How do Python generators work?"}
PASSAGES = {p.doc_id: p.text for p in python_reference()}


@pytest.fixture
def script() -> Iterator[ResearchScript]:
    script = ResearchScript()
    yield script
    script.release()  # a held call must not outlive its test


@pytest.fixture
async def mesh(memory_settings: Settings, script: ResearchScript) -> AsyncIterator[TestMesh]:
    with ModelDouble() as double:
        double.responder = script
        update = {"model_endpoint": double.url, "model_name": "double"}
        settings = memory_settings.model_copy(update=update)
        async with TestMesh(research, researcher, settings=settings) as test_mesh:
            yield test_mesh


def children(mesh: TestMesh, task_id: str) -> list[TaskState]:
    return [s for s in mesh.client.view.tasks.values() if s.parent_task_id == task_id]


def state(mesh: TestMesh, task_id: str) -> TaskState:
    return mesh.client.view.tasks[task_id]


async def all_researchers_reading(mesh: TestMesh, task_id: str) -> list[TaskState]:
    """Once the five researchers run (each held in its first reading call)."""
    await eventually(
        lambda: sum(s.status is TaskStatus.RUNNING for s in children(mesh, task_id)) == 5,
        timeout=30,
        what="five researchers running",
    )
    return children(mesh, task_id)


async def test_the_report_cites_the_corpus_and_costs_each_researcher(mesh: TestMesh) -> None:
    task_id = await mesh.client.submit("research", QUESTION)
    done = await mesh.client.wait(task_id, timeout=60)
    assert done.status is TaskStatus.SUCCEEDED, done.error
    report = ResearchReport.model_validate(done.result)
    assert (report.plan_source, report.summary_source) == ("model", "model")
    assert [s.subtopic for s in report.subagents] == [subtopic for subtopic, _ in PLAN]
    assert report.citations and all(PASSAGES[c.doc_id] == c.passage for c in report.citations)
    assert f"[{report.citations[0].doc_id}]" in report.text
    for cost in report.subagents:  # three passages read, one model call each
        assert (cost.status, cost.findings, cost.model_calls) == ("succeeded", 3, 3)
        assert (cost.input_tokens, cost.output_tokens) == (30, 15)  # the double's 10 + 5


async def test_without_a_usable_plan_or_model_answer_it_falls_back(
    memory_settings: Settings,
) -> None:
    # No model at all (no MESH_MODEL_*): every model step takes its fallback.
    async with TestMesh(research, researcher, settings=memory_settings) as test_mesh:
        task_id = await test_mesh.client.submit("research", {**QUESTION, "subagents": 6})
        done = await test_mesh.client.wait(task_id, timeout=60)
    assert done.status is TaskStatus.SUCCEEDED, done.error
    report = ResearchReport.model_validate(done.result)
    assert (report.plan_source, report.summary_source) == ("fallback", "extractive")
    assert len(report.subagents) == 6 and report.citations
    assert "yield" in {c.doc_id.split("#")[0] for c in report.citations}
    assert all(f"[{c.doc_id}]" in report.text for c in report.citations)


async def test_findings_and_synthesis_show_before_the_last_researcher_ends(
    mesh: TestMesh, script: ResearchScript
) -> None:
    script.hold("Generator expressions")  # one researcher stays in its first reading
    task_id = await mesh.client.submit("research", QUESTION)

    def synthesising_early() -> bool:
        progress = state(mesh, task_id).progress if task_id in mesh.client.view.tasks else []
        return any(e.data.get("researchers_done") == 4 for e in progress)

    await eventually(synthesising_early, timeout=30, what="synthesis from 4 of 5 researchers")
    early = state(mesh, task_id)
    assert early.status is TaskStatus.RUNNING
    findings = [e for e in early.progress if e.message.startswith("finding ")]
    assert len(findings) == 12  # 4 researchers x 3, relayed while the fifth still reads
    assert any(e.message == "synthesising from 12 findings" for e in early.progress)
    script.release()
    done = await mesh.client.wait(task_id, timeout=60)
    assert done.status is TaskStatus.SUCCEEDED, done.error


async def test_focus_steer_changes_what_every_researcher_reads_next(
    mesh: TestMesh, script: ResearchScript
) -> None:
    log = EventLog(mesh.transport, mesh.settings.namespace)
    await log.start()
    try:
        script.hold()
        task_id = await mesh.client.submit("research", QUESTION)
        running = await all_researchers_reading(mesh, task_id)
        await mesh.client.steer(task_id, "Focus on coroutines")
        await eventually(
            lambda: all("steered" in log.kinds.get(s.task_id, []) for s in running),
            timeout=30,
            what="the focus passed on to every researcher",
        )
    finally:
        await log.stop()
    script.release()
    done = await mesh.client.wait(task_id, timeout=60)
    report = ResearchReport.model_validate(done.result)
    assert report.focus == "coroutines"
    index = retriever()
    for child in children(mesh, task_id):
        result: dict[str, Any] = child.result or {}
        first, *later = [f["doc_id"] for f in result["findings"]]
        assert result["focus"] == "coroutines"
        expected = index.search(
            f"coroutines {child.input['query']}", limit=3, exclude=frozenset({first})
        )
        assert later == [hit.doc_id for hit in expected][:2]


async def test_drop_steer_cancels_that_branch_and_the_report_says_so(
    mesh: TestMesh, script: ResearchScript
) -> None:
    script.hold()
    task_id = await mesh.client.submit("research", QUESTION)
    running = await all_researchers_reading(mesh, task_id)
    await mesh.client.steer(task_id, drop="asynchronous generators")
    dropped = next(s for s in running if s.input["subtopic"] == "Asynchronous generators")
    await eventually(
        lambda: state(mesh, dropped.task_id).status is TaskStatus.CANCELLED,
        timeout=30,
        what="the dropped branch cancelled",
    )
    script.release()
    done = await mesh.client.wait(task_id, timeout=60)
    report = ResearchReport.model_validate(done.result)
    assert report.dropped == ["Asynchronous generators"]
    statuses = {s.subtopic: s.status for s in report.subagents}
    assert statuses.pop("Asynchronous generators") == "dropped"
    assert set(statuses.values()) == {"succeeded"}


async def test_cancelling_the_research_cancels_every_branch(
    mesh: TestMesh, script: ResearchScript
) -> None:
    script.hold()
    task_id = await mesh.client.submit("research", QUESTION)
    running = await all_researchers_reading(mesh, task_id)
    await mesh.client.cancel(task_id)
    await eventually(
        lambda: all(state(mesh, s.task_id).status is TaskStatus.CANCELLED for s in running),
        timeout=30,
        what="every researcher cancelled",
    )
    assert state(mesh, task_id).status is TaskStatus.CANCELLED
