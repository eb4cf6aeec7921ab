"""Agents and contracts used by the runtime behaviour suite (types prefixed `test.`)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from mesh import Agent, ChildFailed, TaskContext
from schemas import REGISTRY


@REGISTRY.register("test.work", 1)
class Work(BaseModel):
    seconds: float = 0.0
    fail: bool = False
    wait_for_steer: bool = False
    progress_steps: int = 0
    label: str = ""


@REGISTRY.register("test.spread", 1)
class Spread(BaseModel):
    children: int
    seconds: float = 0.0
    fail_child: bool = False


@REGISTRY.register("test.noticed", 1)
class Noticed(BaseModel):
    item_id: str


@REGISTRY.register("test.echoed", 1)
class Echoed(BaseModel):
    item_id: str
    by: str


worker_agent = Agent("worker", description="does test work")
boss = Agent("boss", delegates_to=["worker"])
listener = Agent("listener")


@worker_agent.task
async def work(ctx: TaskContext, request: Work) -> dict[str, object]:
    for step in range(request.progress_steps):
        await ctx.progress(f"step {step}", step=step)
        await asyncio.sleep(0.05)
    if request.wait_for_steer:
        steer = await ctx.next_steer(timeout=30)
        return {"steered": steer.text if steer else None}
    await asyncio.sleep(request.seconds)
    if request.fail:
        raise ValueError(f"asked to fail ({request.label})")
    return {"label": request.label}


@boss.task
async def spread(ctx: TaskContext, request: Spread) -> dict[str, object]:
    handles = [
        await ctx.delegate(
            "worker", Work(seconds=request.seconds, label=str(i), fail=request.fail_child)
        )
        for i in range(request.children)
    ]
    try:
        results = await ctx.gather(*handles)
    except ChildFailed as exc:
        return {"fallback": True, "error": exc.error.message if exc.error else ""}
    return {"labels": [r["label"] for r in results]}


@listener.on_event
async def on_noticed(ctx: TaskContext, event: Noticed) -> None:
    await ctx.emit(Echoed(item_id=event.item_id, by=ctx.agent.name), key=event.item_id)
