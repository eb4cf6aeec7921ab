"""Cost attribution across crashes (issue 16): a research workflow whose supervisor and
researcher processes are SIGKILLed mid-run, and what the mesh says it cost against what
the model was paid. Shared by tests/faults/test_research_cost_killed.py (which asserts)
and `python -m tests.bench claims-cost` (which reports).

The workflow is the benchmarks' (tests/bench/research_agents.py): a plan, 3 researchers
of 2 model calls each, a synthesis: 8 calls, each priced (MESH_MODEL_PRICES) for the
model double's usage (10 input, 5 output tokens). Two `mesh run` processes per agent
type, one partition each, so one of each runs the workflow and the other takes over.
Researcher 0 stops at a gate after its first call; once the other two have ended,
the processes running researcher 0 and the supervisor (waiting for its children) are
SIGKILLed together. The standbys re-run both: the plan call and researcher 0's first
call come back from the journal, unpaid; the rest is asked once.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

import orjson

from mesh import Client
from mesh.handles import child_task_id
from mesh.models.accounting import tree_usage
from mesh.settings import Settings
from schemas.tasks import TaskState, TaskStatus
from tests.bench.research_agents import Question
from tests.e2e.processes import MeshProcess
from tests.helpers import eventually
from tests.model_double import ModelDouble, Reply

SUPERVISOR = "tests.bench.research_agents:research"
RESEARCHER = "tests.bench.research_agents:researcher"
MODEL = "double-priced"
PRICE = {"input": 1.0, "output": 2.0}  # USD per million tokens
SUBAGENTS = 3
CALLS_EACH = 2
CALLS = 1 + SUBAGENTS * CALLS_EACH + 1  # plan, researchers, synthesis
CALL_USD = (Reply().input_tokens * PRICE["input"] + Reply().output_tokens * PRICE["output"]) / 1e6


@dataclass(frozen=True)
class CostOutcome:
    root: TaskState
    subagents: list[TaskState]  # in delegation order
    total_usd: float  # the workflow's tree, as the mesh accounted it
    requests: int  # what the model double was asked for this workflow
    victims: list[str]  # the instances SIGKILLed

    @property
    def own_usd(self) -> float:
        return _cost(self.root)

    @property
    def subagent_usd(self) -> list[float]:
        return [_cost(s) for s in self.subagents]

    @property
    def paid_usd(self) -> float:
        return self.requests * CALL_USD


def _cost(state: TaskState) -> float:
    return sum(line.cost_usd for line in state.usage)


async def kill_mid_workflow(
    settings: Settings, client: Client, double: ModelDouble, log_dir: Path, topic: str
) -> CostOutcome:
    """Run the scenario; `settings` should have one partition and a short session."""
    env = {
        "MESH_MODEL_ENDPOINT": double.url,
        "MESH_MODEL_NAME": MODEL,
        "MESH_MODEL_PRICES": orjson.dumps({MODEL: PRICE}).decode(),
    }
    gate = log_dir / "gate"
    gate.mkdir()
    processes = [
        MeshProcess(spec, settings, log_dir, f"{name}-{n}", env)
        for spec, name in ((SUPERVISOR, "sup"), (RESEARCHER, "res"))
        for n in (1, 2)
    ]
    try:
        await eventually(lambda: _one_owner_each(processes), timeout=120, what="the groups")
        await eventually(lambda: "bench-research" in client.view.agents, timeout=30, what="card")
        question = Question(
            text=topic, subagents=SUBAGENTS, calls_per_subagent=CALLS_EACH, gate=str(gate)
        )
        root_id = await client.submit("bench-research", question)
        others = [child_task_id(root_id, n) for n in range(2, SUBAGENTS + 1)]

        def paused_with_the_others_done() -> bool:
            states = [client.view.tasks.get(i) for i in others]
            done = all(s is not None and s.status is TaskStatus.SUCCEEDED for s in states)
            return done and any(gate.glob("paused-*"))

        await eventually(paused_with_the_others_done, timeout=60, what="researcher 0 to pause")
        [paused] = [p.name.removeprefix("paused-") for p in gate.glob("paused-*")]
        victims = [paused, client.view.tasks[root_id].instance]
        for process in processes:
            if process.instance in victims:
                process.stop(signal.SIGKILL)
        (gate / "resume").touch()
        root = await client.wait(root_id, timeout=60)
        children = [child_task_id(root_id, n) for n in range(1, SUBAGENTS + 1)]
        subagents = [await client.wait(i, timeout=10) for i in children]
    finally:
        for process in processes:
            process.stop()
    total = sum(line.cost_usd for line in tree_usage(client.view.tasks, root_id))
    return CostOutcome(root, subagents, total, double.calls_with(topic), victims)


def _one_owner_each(processes: list[MeshProcess]) -> bool:
    """Every process has joined its group, and each group's one partition has an owner."""
    owned: dict[str, int] = {}
    for process in processes:
        if process.proc.poll() is not None:
            raise AssertionError(f"{process.instance} exited early:\n{process.log()}")
        counts = process.assigned_counts()
        if not counts:
            return False
        owned[process.spec] = owned.get(process.spec, 0) + counts[-1]
    return all(n == 1 for n in owned.values())
