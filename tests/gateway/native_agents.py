"""An agent that delegates, behind the gateway in the native API tests (cancel reaches
children through it)."""

from __future__ import annotations

from mesh import Agent, TaskContext
from tests.gateway.agents import Prompt

parent = Agent(
    "parent", description="Delegates its prompt to `slow` and waits.", delegates_to=["slow"]
)


@parent.task
async def delegate_to_slow(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    child = await ctx.delegate("slow", prompt)
    return {"child": await child.result()}
