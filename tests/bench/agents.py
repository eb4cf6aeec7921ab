"""Agents of the benchmarks: a no-op (the hop), a waiter (in-flight capacity) and a
chatter (the model layer's cost per call).

`waiter` runs as its own process: `python -m mesh run tests.bench.agents:waiter`.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel

from mesh import Agent, ModelSpec, TaskContext
from schemas import REGISTRY


@REGISTRY.register("bench.noop", 1)
class Noop(BaseModel):
    n: int = 0
    text: str = ""


@REGISTRY.register("bench.wait", 1)
class Wait(BaseModel):
    seconds: float


@REGISTRY.register("bench.chats", 1)
class Chats(BaseModel):
    label: str  # in every prompt: each round's calls are new requests
    calls: int


# No max_inflight of their own: the benchmarks set MESH_MAX_INFLIGHT (Settings).
noop = Agent("noop", description="Returns at once (the cost of one hop).")
waiter = Agent("waiter", description="Awaits a sleep (an I/O-bound task in flight).")
chatter = Agent("chatter", description="Calls its model in sequence.", model=ModelSpec())


@noop.task
async def do_nothing(ctx: TaskContext, request: Noop) -> None:
    return None


@waiter.task
async def wait(ctx: TaskContext, request: Wait) -> None:
    await asyncio.sleep(request.seconds)


@chatter.task
async def chat(ctx: TaskContext, request: Chats) -> dict[str, float]:
    """`calls` model calls one after another, timed from the first to the last: the
    task's own hop (consume, start, result) is outside the window. One untimed call
    first opens the connection, as the direct baseline's does."""
    await ctx.chat([{"role": "user", "content": f"{request.label} warm-up"}])
    began, began_cpu = time.perf_counter(), time.process_time()
    for i in range(request.calls):
        await ctx.chat([{"role": "user", "content": f"{request.label} call {i}"}])
    return {"seconds": time.perf_counter() - began, "cpu": time.process_time() - began_cpu}
