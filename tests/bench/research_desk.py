"""What the claims benchmarks drive: a research desk as `mesh run` processes, and its
workflows submitted and waited for.

`ResearchDesk` names the agents of one research application: the supervisor's agent
type, the `mesh run` specs of its processes, how to ask it a question and how many
model calls one workflow makes. `BENCH_DESK` is the benchmarks' own
(tests/bench/research_agents.py); pointing the claims at the real research desk is a
second `ResearchDesk` with its specs and input model.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil
from pydantic import BaseModel

from mesh.client import Client
from mesh.models.accounting import tree_usage
from mesh.settings import Settings
from mesh.transport.kafka.adapter import KafkaTransport
from schemas.tasks import TaskState, TaskStatus
from tests.bench.common import until
from tests.bench.research_agents import Question
from tests.e2e.processes import MeshProcess

MODEL = "bench-slow"
# Kafka's default fetch wait, not the dev profile's 10 ms, where capacity is measured:
# idle consumers polling 100 times a second took ~0.2 of a core from two workers.
CAPACITY_FETCH_MAX_WAIT = 0.5
PRICE = {"input": 1.0, "output": 2.0}  # USD per million tokens: 20 µUSD per double's call


def env_int(name: str, default: int) -> int:
    """A size from the environment (bigger runs than `make bench`'s), checked."""
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: give a positive whole number")
    return int(value)


def env_ints(name: str, default: str) -> list[int]:
    """A comma-separated list of sizes from the environment, checked."""
    value = os.environ.get(name, default)
    sizes = [int(n) for n in value.split(",") if n.strip().isdigit()]
    if not sizes or len(sizes) != len(value.split(",")) or min(sizes) < 1:
        raise ValueError(f"{name}={value!r}: give positive whole numbers, e.g. '5,10'")
    return sizes


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, str(default))
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ValueError(f"{name}={value!r}: give a positive number of seconds")
    return number


@dataclass(frozen=True)
class ResearchDesk:
    supervisor: str  # the agent type a question is submitted to
    specs: tuple[str, ...]  # `mesh run` specs: one process each
    # (question text, subagents, blocking delegation) -> the supervisor's input
    question: Callable[[str, int, bool], BaseModel]
    calls_per_workflow: Callable[[int], int]  # model calls of one workflow of n subagents


BENCH_DESK = ResearchDesk(
    supervisor="bench-research",
    specs=("tests.bench.research_agents:research", "tests.bench.research_agents:researcher"),
    question=lambda text, n, blocking: Question(text=text, subagents=n, blocking=blocking),
    calls_per_workflow=lambda n: n + 2,  # plan, one per subagent, synthesis
)


@dataclass
class RunningDesk:
    client: Client
    processes: list[MeshProcess]
    peak_rss: dict[str, int]  # bytes, per process instance, since start

    def sample_rss(self) -> None:
        for process in self.processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                rss = psutil.Process(process.proc.pid).memory_info().rss
                self.peak_rss[process.instance] = max(self.peak_rss[process.instance], rss)

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker processes so far."""
        total = 0.0
        for process in self.processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = psutil.Process(process.proc.pid).cpu_times()
                total += times.user + times.system
        return total


@contextlib.asynccontextmanager
async def running_desk(
    desk: ResearchDesk, settings: Settings, model_url: str, log_dir: Path
) -> AsyncIterator[RunningDesk]:
    """One `mesh run` process per spec asking the model at `model_url`, and a client;
    yields once every process owns its partitions and every card is published."""
    env = {
        "MESH_MODEL_ENDPOINT": model_url,
        "MESH_MODEL_NAME": MODEL,
        "MESH_MODEL_PRICES": orjson.dumps({MODEL: PRICE}).decode(),
        "MESH_MODEL_TIMEOUT": "300",  # thousands of calls queue for the SDK's connections
        "MESH_MAX_INFLIGHT": "20000",  # every workflow and subagent at once
        "MESH_MAX_BACKLOG": "20000",
    }
    processes = [
        MeshProcess(spec, settings, log_dir, f"{spec.rsplit(':', 1)[1]}-{i}", env)
        for i, spec in enumerate(desk.specs)
    ]
    try:
        async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
            running = RunningDesk(client, processes, {p.instance: 0 for p in processes})
            await until(lambda: _all_assigned(processes), timeout=90, what="the workers' groups")
            await until(lambda: desk.supervisor in client.view.agents, timeout=30, what="a card")
            yield running
    finally:
        for process in processes:
            process.stop()


def capacity_settings(settings: Settings) -> Settings:
    """`settings` for a benchmark bound by the workers' CPU (ADR 030)."""
    return settings.model_copy(update={"fetch_max_wait": CAPACITY_FETCH_MAX_WAIT})


def _all_assigned(processes: Sequence[MeshProcess]) -> bool:
    for process in processes:
        if process.proc.poll() is not None:
            raise RuntimeError(f"{process.instance} exited early:\n{process.log()}")
    return all(p.assigned_counts() for p in processes)


async def run_workflows(
    running: RunningDesk,
    desk: ResearchDesk,
    *,
    count: int,
    subagents: int,
    blocking: bool = False,
    timeout: float = 600.0,
) -> tuple[float, list[TaskState]]:
    """Submit `count` questions at once and wait until all have ended (sampling the
    workers' RSS meanwhile): (seconds from the first submit to the last end, the
    root tasks' states). Raises if one did not succeed."""
    label = uuid.uuid4().hex[:8]
    questions = [desk.question(f"q{label}-{n}", subagents, blocking) for n in range(count)]
    began = time.perf_counter()
    ids = await asyncio.gather(*(running.client.submit(desk.supervisor, q) for q in questions))
    tasks = running.client.view.tasks

    def all_ended() -> bool:
        running.sample_rss()
        return all((s := tasks.get(i)) is not None and s.status.is_terminal for i in ids)

    try:
        ended = await until(all_ended, timeout=timeout, what=f"{count} workflows", interval=0.2)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: {_tally([tasks.get(i) for i in ids])}") from None
    states = [tasks[i] for i in ids]
    failed = [s for s in states if s.status is not TaskStatus.SUCCEEDED]
    if failed:
        raise AssertionError(
            f"{len(failed)} of {count} workflows ended {failed[0].status}: {failed[0].error}"
        )
    return ended - began, states


def _tally(states: Sequence[TaskState | None]) -> str:
    """How many are in each status, e.g. `succeeded 10, running 990`."""
    counts: dict[str, int] = {}
    for state in states:
        status = "unseen" if state is None else state.status.value
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))


def tree_cost(tasks: dict[str, TaskState], root: str) -> float:
    """The model cost (USD) of a workflow's whole task tree, as the mesh accounted it."""
    return sum(line.cost_usd for line in tree_usage(tasks, root))
