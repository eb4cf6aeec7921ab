"""`research`: plans a question, fans out researchers, reports with citations (ADR 026).

1. Plan: the model splits the question into `subagents` subtopics with queries
   (agents/research/planner.py); a plan it cannot give, or one that does not hold
   up, is replaced by the deterministic one (the corpus topics that rank best).
2. Fan out: one `researcher` per subtopic, all started at once (`ctx.delegate` does
   not block); their findings are relayed as this task's progress as they report
   them, steers are applied as they come (agents/research/branches.py).
3. Synthesise: the model summarises the cited passages, streamed
   (agents/research/synthesis.py), or the findings' own readings are the summary.

It declares no model: `ctx.chat` uses the mesh's, and with none configured the plan
and summary fall back, so the desk runs (and `mesh dev` starts it) without a model.
The report names which path each step took, and what each researcher cost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from agents.contracts import Finding, Findings, Investigate, ResearchAsk, ResearchReport
from agents.research.branches import Branch, fan_out
from agents.research.library import shared_retriever
from agents.research.planner import (
    PLAN_INSTRUCTIONS,
    ModelPlan,
    PlannedSubtopic,
    fallback_plan,
    plan_request,
    usable_plan,
)
from agents.research.retrieval import Retriever
from agents.research.synthesis import (
    SUMMARY_INSTRUCTIONS,
    citations,
    cited_findings,
    extractive_summary,
    summary_request,
    usable_summary,
)
from mesh import Agent, ChatMessage, ModelError, SetupError, TaskContext

agent = Agent(
    "research",
    description="Researches a question over the Python language reference with 5-10 "
    "researchers in parallel; a report with citations.",
    delegates_to=["researcher"],
)

PLAN_MAX_TOKENS = 400
SUMMARY_MAX_TOKENS = 160
FINDINGS_PER_RESEARCHER = 3
log = logging.getLogger(__name__)


@agent.task
async def research(ctx: TaskContext, ask: ResearchAsk) -> ResearchReport:
    retriever = await shared_retriever()
    plan, plan_source = await _plan(ctx, ask, retriever)
    await ctx.progress(
        f"planned {len(plan)} subtopics ({plan_source})",
        subtopics=[p.subtopic for p in plan],
        plan_source=plan_source,
    )
    async with ctx.children_progress() as live:
        branches = [await _delegate(ctx, ask, planned) for planned in plan]
        outcome = await fan_out(ctx, branches, live, focus=ask.focus)
    kept = [b.result.findings for b in branches if b.result and b.status == "succeeded"]
    cited = cited_findings(kept)
    text, summary_source = await _summarise(ctx, ask.question, cited)
    return ResearchReport(
        question=ask.question,
        text=text,
        citations=citations(cited),
        subagents=[branch.cost() for branch in branches],
        plan_source=plan_source,
        summary_source=summary_source,
        dropped=outcome.dropped,
        focus=outcome.focus,
    )


async def _plan(
    ctx: TaskContext, ask: ResearchAsk, retriever: Retriever
) -> tuple[list[PlannedSubtopic], Literal["model", "fallback"]]:
    messages = [
        ChatMessage.system(PLAN_INSTRUCTIONS.format(n=ask.subagents)),
        ChatMessage.user(plan_request(ask.question, ask.subagents, ask.focus)),
    ]
    try:
        answer = await ctx.chat(
            messages, output=ModelPlan, max_tokens=PLAN_MAX_TOKENS, temperature=0
        )
    except (SetupError, ModelError) as exc:  # no model configured, none answered, or no plan
        log.info("task %s: no plan from the model, the fallback plans (%s)", ctx.task_id, exc)
        answer = None
    if answer is not None and answer.parsed is not None:
        # Off the loop, as every search: a hybrid search embeds its query.
        plan = await asyncio.to_thread(
            usable_plan, answer.parsed, wanted=ask.subagents, retriever=retriever
        )
        if plan is not None:
            return plan, "model"
        log.info("task %s: the model's plan does not hold up, the fallback plans", ctx.task_id)
    fallback = await asyncio.to_thread(
        fallback_plan, ask.question, wanted=ask.subagents, retriever=retriever, focus=ask.focus
    )
    return fallback, "fallback"


async def _delegate(ctx: TaskContext, ask: ResearchAsk, planned: PlannedSubtopic) -> Branch:
    request = Investigate(
        question=ask.question,
        subtopic=planned.subtopic,
        query=planned.query,
        limit=FINDINGS_PER_RESEARCHER,
    )
    handle = await ctx.delegate("researcher", request, result=Findings)
    return Branch(planned.subtopic, handle)


async def _summarise(
    ctx: TaskContext, question: str, cited: list[Finding]
) -> tuple[str, Literal["model", "extractive"]]:
    if cited:
        messages = [
            ChatMessage.system(SUMMARY_INSTRUCTIONS),
            ChatMessage.user(summary_request(question, cited)),
        ]
        try:
            answer = await ctx.chat(
                messages, max_tokens=SUMMARY_MAX_TOKENS, temperature=0, stream=True
            )
        except (SetupError, ModelError) as exc:
            log.info("task %s: no summary from the model, extractive (%s)", ctx.task_id, exc)
            answer = None
        text = usable_summary(answer.content if answer else None, cited)
        if text is not None:
            return text, "model"
    return extractive_summary(question, cited), "extractive"
