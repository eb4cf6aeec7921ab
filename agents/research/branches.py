"""The research supervisor's branches: one researcher per subtopic, as they run.

A branch knows its child's handle, the findings its researcher has reported so far
(read from the child's progress, before it ends) and how it ended. `fan_out` is the
supervisor's wait: it folds progress as it comes, applies steers ("focus on X" goes
on to every running researcher, "drop Y" cancels the matching branches,
agents/research/steering.py) and reports "synthesising from K findings" each time a
researcher ends while others still run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.contracts import Findings, SubagentCost
from agents.research.steering import matches_subtopic, parse_steer
from mesh import ChildCancelled, ChildError, TaskContext, TaskHandle
from mesh.runtime.children import ChildrenProgress
from schemas.tasks import Steer


@dataclass
class Branch:
    subtopic: str
    handle: TaskHandle[Findings]
    reported: list[str] = field(default_factory=list)  # doc ids from its progress
    result: Findings | None = None
    status: str = "running"  # then succeeded, failed, cancelled or dropped

    async def settle(self) -> None:
        """Wait for the researcher to end and keep how it ended."""
        try:
            self.result = await self.handle
            # Dropped while it finished: its findings are left out all the same.
            self.status = "dropped" if self.status == "dropping" else "succeeded"
        except ChildError as exc:
            if self.status == "dropping":
                self.status = "dropped"
            else:
                self.status = "cancelled" if isinstance(exc, ChildCancelled) else "failed"

    def cost(self) -> SubagentCost:
        result = self.result
        return SubagentCost(
            task_id=self.handle.task_id,
            subtopic=self.subtopic,
            status=self.status,
            findings=len(result.findings) if result else len(self.reported),
            model_calls=result.model_calls if result else 0,
            input_tokens=result.input_tokens if result else 0,
            output_tokens=result.output_tokens if result else 0,
            cost_usd=result.cost_usd if result else 0.0,
        )


@dataclass
class FanOut:
    """What `fan_out` learnt on the way: the last focus given, the subtopics dropped."""

    focus: str | None = None
    dropped: list[str] = field(default_factory=list)


async def fan_out(
    ctx: TaskContext, branches: Sequence[Branch], live: ChildrenProgress, *, focus: str | None
) -> FanOut:
    """Wait until every branch has ended, folding progress and steers meanwhile."""
    outcome = FanOut(focus=focus)
    by_id = {branch.handle.task_id: branch for branch in branches}
    running = {asyncio.ensure_future(b.settle()): b for b in branches}
    steer: asyncio.Future[Steer | None] = asyncio.ensure_future(ctx.next_steer())
    progress: asyncio.Future[Any] = asyncio.ensure_future(live.wait(timeout=None))
    try:
        while running:
            waiting: set[asyncio.Future[Any]] = {*running, steer, progress}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if progress in done:
                await _relay(ctx, by_id, progress.result())
                progress = asyncio.ensure_future(live.wait(timeout=None))
            if steer in done:
                await _apply(steer.result(), branches, outcome)
                steer = asyncio.ensure_future(ctx.next_steer())
            ended = [task for task in running if task in done]
            for task in ended:
                del running[task]
            if ended:
                await _relay(ctx, by_id, live.new())  # what came just before the end
                await _synthesising(ctx, branches, still_running=len(running))
    finally:
        leftovers: list[asyncio.Future[Any]] = [*running, steer, progress]
        for future in leftovers:
            future.cancel()
    return outcome


async def _relay(ctx: TaskContext, by_id: dict[str, Branch], entries: Any) -> None:
    """Report the researchers' findings as the supervisor's own progress."""
    for handle, entry in entries:
        branch = by_id.get(handle.task_id)
        doc_id = entry.data.get("doc_id")
        if branch is None or not isinstance(doc_id, str) or doc_id in branch.reported:
            continue
        branch.reported.append(doc_id)
        await ctx.progress(
            f"finding {doc_id} ({branch.subtopic})",
            subtopic=branch.subtopic,
            doc_id=doc_id,
            summary=entry.data.get("summary", ""),
        )


async def _apply(steer: Steer | None, branches: Sequence[Branch], outcome: FanOut) -> None:
    command = parse_steer(steer) if steer is not None else None
    if command is None:
        return
    running = [b for b in branches if not b.handle.done() and b.status == "running"]
    if command.kind == "focus":
        outcome.focus = command.what
        for branch in running:
            await branch.handle.steer(f"focus on {command.what}", focus=command.what)
        return
    for branch in running:
        if matches_subtopic(command.what, branch.subtopic):
            branch.status = "dropping"
            outcome.dropped.append(branch.subtopic)
            await branch.handle.cancel(f"dropped by steer {command.what!r}")


async def _synthesising(ctx: TaskContext, branches: Sequence[Branch], still_running: int) -> None:
    findings = sum(len(b.reported) for b in branches if b.status != "dropped")
    await ctx.progress(
        f"synthesising from {findings} findings",
        findings=findings,
        researchers_done=len(branches) - still_running,
        researchers=len(branches),
    )
