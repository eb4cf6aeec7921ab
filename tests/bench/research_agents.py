"""The benchmarks' research workflow: the shape of the research desk (issue 16), on a
scripted model.

`bench-research` (a supervisor) plans a question with one model call, delegates
`subagents` independent subtasks to `bench-researcher` (each makes
`calls_per_subagent` model calls in sequence), then synthesises the findings with one
model call. `blocking=True` does the same work awaiting each child before starting the
next: the baseline of "sum of tasks becomes max of tasks". Every model call goes to
the mesh's model (MESH_MODEL_ENDPOINT: the benchmarks' slow model double).

`gate` (a directory) is for tests/faults/test_research_cost_killed.py: the researcher
of subtask 0 stops there after its first call, so a test can SIGKILL its process
between two calls (as tests/faults/model_agents.py's writer does).

    python -m mesh run tests.bench.research_agents:research
    python -m mesh run tests.bench.research_agents:researcher

The prompts are functions (`plan_prompt`...) so the synchronous baseline
(tests/bench/research_baseline.py) asks the model exactly the same questions.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pydantic import BaseModel, Field

import mesh.models.openai_compatible  # noqa: F401 (the SDK's import, paid at start-up)
from mesh import Agent, ChatMessage, ModelSpec, RetryPolicy, TaskContext
from schemas import REGISTRY

RESEARCHER = "bench-researcher"


@REGISTRY.register("bench.research.question", 1)
class Question(BaseModel):
    text: str = Field(min_length=1)  # in every prompt: a workflow's calls are its own
    subagents: int = Field(ge=1, le=100)
    calls_per_subagent: int = Field(default=1, ge=1, le=20)
    blocking: bool = False  # await each child before delegating the next
    gate: str | None = None  # the fault test's kill point (see the module docstring)


@REGISTRY.register("bench.research.subtask", 1)
class Subtask(BaseModel):
    question: str
    index: int = Field(ge=0)
    calls: int = Field(ge=1)
    gate: str | None = None


class Finding(BaseModel):
    index: int
    text: str


class ResearchReport(BaseModel):
    question: str
    findings: list[Finding]
    synthesis: str
    delegation_s: float  # the subagents' phase, first delegation -> last finding
    instance: str | None  # the process that finished it


def plan_prompt(question: Question) -> str:
    return f"{question.text} | plan {question.subagents} independent subtasks"


def subtask_prompt(subtask: Subtask, call: int, notes: list[str]) -> str:
    return f"{subtask.question} | subtask {subtask.index} call {call} | notes {notes!r}"


def synthesis_prompt(question: Question, findings: list[str]) -> str:
    return f"{question.text} | synthesise {len(findings)} findings: {findings!r}"


research = Agent(
    "bench-research",
    description="Plans a question, fans it out to researchers, synthesises (benchmarks).",
    delegates_to=[RESEARCHER],
    model=ModelSpec(),
    retry=RetryPolicy(max_attempts=1),
)
researcher = Agent(
    RESEARCHER,
    description="Researches one subtask with a few model calls (benchmarks).",
    model=ModelSpec(),
    retry=RetryPolicy(max_attempts=1),
)


@research.task
async def investigate(ctx: TaskContext, question: Question) -> ResearchReport:
    await ctx.chat([ChatMessage.user(plan_prompt(question))])
    subtasks = [
        Subtask(
            question=question.text,
            index=i,
            calls=question.calls_per_subagent,
            gate=question.gate if i == 0 else None,
        )
        for i in range(question.subagents)
    ]
    began = time.perf_counter()
    if question.blocking:
        findings = [
            await (await ctx.delegate(RESEARCHER, subtask, result=Finding)) for subtask in subtasks
        ]
    else:
        handles = [await ctx.delegate(RESEARCHER, s, result=Finding) for s in subtasks]
        findings = [await handle for handle in handles]  # all running: the slowest's wait
    delegation = time.perf_counter() - began
    texts = [finding.text for finding in findings]
    synthesis = await ctx.chat([ChatMessage.user(synthesis_prompt(question, texts))])
    return ResearchReport(
        question=question.text,
        findings=findings,
        synthesis=synthesis.content or "",
        delegation_s=delegation,
        instance=os.environ.get("MESH_INSTANCE_ID"),
    )


@researcher.task
async def look_into(ctx: TaskContext, subtask: Subtask) -> Finding:
    notes: list[str] = []
    for call in range(subtask.calls):
        if call == 1 and subtask.gate is not None:
            await wait_at_gate(Path(subtask.gate))
        answer = await ctx.chat([ChatMessage.user(subtask_prompt(subtask, call, notes))])
        notes.append(answer.content or "")
    return Finding(index=subtask.index, text=" ".join(notes))


async def wait_at_gate(gate: Path) -> None:
    """Write `paused-<instance>` in `gate`; unless `gate/resume` exists, wait for good
    (only the process's kill ends this run)."""
    instance = os.environ.get("MESH_INSTANCE_ID", str(os.getpid()))
    await asyncio.to_thread((gate / f"paused-{instance}").touch)
    if not await asyncio.to_thread((gate / "resume").exists):
        await asyncio.Event().wait()
