"""Agents behind the gateway in the console tests: `planner` reports a partial result
and delegates to `slow` (a tree with a long leaf); `payer` waits for a person's
approval (the approvals inbox); `talker` streams its model's answer."""

from __future__ import annotations

from mesh import Agent, ModelSpec, TaskContext
from tests.gateway.agents import Prompt

planner = Agent(
    "planner", description="Reports its plan, then has `slow` carry it out.", delegates_to=["slow"]
)
payer = Agent("payer", description="Pays once a person approves.")
talker = Agent("talker", description="Streams its model's answer.", model=ModelSpec())


@planner.task
async def plan(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    await ctx.progress("plan ready: one step", steps=1)
    child = await ctx.delegate("slow", prompt)
    return {"child": await child.result()}


@payer.task
async def pay(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    approval = await ctx.request_approval(
        f"pay {prompt.text}", expires_in=600, on_expiry="halt", details={"what": prompt.text}
    )
    return {"decision": str(approval.status), "by": approval.by}


@talker.task
async def talk(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    answer = await ctx.chat([{"role": "user", "content": prompt.text}], stream=True)
    return {"text": answer.content}
