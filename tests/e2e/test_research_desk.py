"""The research desk as separate `mesh run` processes on the embedded broker, against
the scripted model double: findings arrive (relayed by `research`) while a researcher
still works, a "drop" steer reaches that researcher's process and cancels it, and the
report cites passages of the corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.contracts import ResearchReport
from agents.research.corpus import python_reference
from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.e2e.processes import MeshProcess, wait_until_split
from tests.helpers import eventually
from tests.model_double import ModelDouble
from tests.research_support import ResearchScript

pytestmark = [pytest.mark.broker, pytest.mark.e2e]

SPECS = {"agents.research:agent": 2, "agents.researcher:agent": 2}  # inbox partitions


@pytest.fixture
def script() -> Iterator[ResearchScript]:
    script = ResearchScript()
    yield script
    script.release()


@pytest.fixture
def double(script: ResearchScript) -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        double.responder = script
        yield double


@pytest.fixture
def settings(broker_settings: Settings, double: ModelDouble) -> Settings:
    update = {"partitions": 2, "model_endpoint": double.url, "model_name": "double"}
    return broker_settings.model_copy(update=update)


async def test_a_research_question_across_processes(
    client: Client, settings: Settings, script: ResearchScript, tmp_path: Path
) -> None:
    # BM25 alone: each process would first embed the whole corpus (tests/unit covers hybrid).
    off = {"AGENTS_EMBEDDINGS": "off"}
    processes = [
        MeshProcess(spec, settings, tmp_path, spec.split(".")[1], extra_env=off) for spec in SPECS
    ]
    try:
        await wait_until_split(processes, partitions=SPECS, timeout=60)
        script.hold("Generator expressions")
        task_id = await client.submit("research", {"question": "How do Python generators work?"})

        def progress() -> list[str]:
            state = client.view.tasks.get(task_id)
            return [entry.message for entry in state.progress] if state else []

        await eventually(
            lambda: "synthesising from 12 findings" in progress(),
            timeout=60,
            what="findings of 4 researchers relayed while the fifth reads",
        )
        assert client.view.tasks[task_id].status is TaskStatus.RUNNING
        assert sum(message.startswith("finding ") for message in progress()) == 12
        await client.steer(task_id, "drop generator expressions")
        held = next(
            s
            for s in client.view.tasks.values()
            if s.parent_task_id == task_id and s.input["subtopic"] == "Generator expressions"
        )
        await eventually(
            lambda: client.view.tasks[held.task_id].status is TaskStatus.CANCELLED,
            timeout=60,
            what="the dropped researcher cancelled in its process",
        )
        script.release()
        done = await client.wait(task_id, timeout=60)
    finally:
        for process in processes:
            process.stop()
    assert done.status is TaskStatus.SUCCEEDED, done.error
    report = ResearchReport.model_validate(done.result)
    passages = {p.doc_id: p.text for p in python_reference()}
    assert report.citations and all(passages[c.doc_id] == c.passage for c in report.citations)
    assert report.dropped == ["Generator expressions"]
    assert [s.status for s in report.subagents].count("succeeded") == 4
    assert sum(s.model_calls for s in report.subagents) == 12
