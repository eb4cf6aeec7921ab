"""`researcher`: finds passages of the Python reference for one subtopic, reads each.

One passage at a time: retrieve the best one not yet taken (BM25, or hybrid,
agents/research/retrieval.py), read it (a model call: one sentence on what it says
about the subtopic; the passage's most relevant sentence when no model answers or
its answer is no reading), and report it at once as progress, so the `research`
supervisor and anyone following the task see findings as they come. Before each
next passage it reads its steers: a focus ({"focus": ...} or "focus on ...",
agents/research/steering.py) is put in front of the query from then on.

It declares no model: `ctx.chat` then uses the mesh's (MESH_MODEL_*), and with none
configured every reading is extractive, so the desk works without a model.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from agents.contracts import Finding, Findings, Investigate
from agents.research.library import shared_retriever
from agents.research.reading import (
    READ_INSTRUCTIONS,
    extractive_reading,
    read_request,
    usable_reading,
)
from agents.research.steering import focused_query, parse_steer
from mesh import Agent, ChatMessage, ModelError, SetupError, TaskContext

agent = Agent(
    "researcher",
    description="Researches one subtopic in the Python language reference (research desk).",
)

READ_MAX_TOKENS = 60
log = logging.getLogger(__name__)


@dataclass
class _Spent:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    readers: set[str] = field(default_factory=set)  # "model" / "extractive"


@agent.task
async def investigate(ctx: TaskContext, task: Investigate) -> Findings:
    retriever = await shared_retriever()
    findings: list[Finding] = []
    spent = _Spent()
    focus: str | None = None
    for _ in range(task.limit):
        focus = _steered_focus(ctx, focus)
        query = focused_query(task.query, focus)
        taken = frozenset(f.doc_id for f in findings)
        # Off the loop: a hybrid search embeds the query (~15 ms of numpy).
        hits = await asyncio.to_thread(retriever.search, query, limit=1, exclude=taken)
        if not hits:
            break
        finding = await _read(ctx, task.subtopic, query, hits[0], spent)
        findings.append(finding)
        await ctx.progress(
            f"finding {finding.doc_id}",
            subtopic=task.subtopic,
            doc_id=finding.doc_id,
            title=finding.title,
            summary=finding.summary,
            score=finding.score,
        )
    return Findings(
        subtopic=task.subtopic,
        query=focused_query(task.query, focus),
        findings=findings,
        read_by="model" if spent.readers == {"model"} else "extractive",
        focus=focus,
        model_calls=spent.calls,
        input_tokens=spent.input_tokens,
        output_tokens=spent.output_tokens,
        cost_usd=round(spent.cost_usd, 6),
    )


def _steered_focus(ctx: TaskContext, focus: str | None) -> str | None:
    """The focus after the steers received since the last look (the last one wins)."""
    for steer in ctx.pending_steers():
        command = parse_steer(steer)
        if command is not None and command.kind == "focus":
            focus = command.what
    return focus


async def _read(
    ctx: TaskContext, subtopic: str, query: str, hit: Finding, spent: _Spent
) -> Finding:
    messages = [
        ChatMessage.system(READ_INSTRUCTIONS),
        ChatMessage.user(read_request(subtopic, hit.passage)),
    ]
    reading = None
    try:
        answer = await ctx.chat(messages, max_tokens=READ_MAX_TOKENS, temperature=0)
    except (SetupError, ModelError) as exc:  # no model configured, or none answered
        log.info("task %s: %s read extractively (%s)", ctx.task_id, hit.doc_id, exc)
        answer = None
    if answer is not None:
        spent.calls += 1
        spent.input_tokens += answer.usage.input_tokens
        spent.output_tokens += answer.usage.output_tokens
        spent.cost_usd += answer.cost_usd
        reading = usable_reading(answer.content, hit.passage)
    spent.readers.add("model" if reading else "extractive")
    summary = reading or extractive_reading(hit.passage, query)
    return hit.model_copy(update={"summary": summary})
