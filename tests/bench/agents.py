"""Agents of the benchmarks: a no-op (the hop) and a waiter (in-flight capacity).

`waiter` runs as its own process: `python -m mesh run tests.bench.agents:waiter`.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from mesh import Agent, TaskContext
from schemas import REGISTRY


@REGISTRY.register("bench.noop", 1)
class Noop(BaseModel):
    n: int = 0
    text: str = ""


@REGISTRY.register("bench.wait", 1)
class Wait(BaseModel):
    seconds: float


# No max_inflight of their own: the benchmarks set MESH_MAX_INFLIGHT (Settings).
noop = Agent("noop", description="Returns at once (the cost of one hop).")
waiter = Agent("waiter", description="Awaits a sleep (an I/O-bound task in flight).")


@noop.task
async def do_nothing(ctx: TaskContext, request: Noop) -> None:
    return None


@waiter.task
async def wait(ctx: TaskContext, request: Wait) -> None:
    await asyncio.sleep(request.seconds)
