"""Agents behind the gateway in the native API tests: `parent` delegates (cancel reaches
children through it); `intake` reacts to a domain event and delegates (the tasks an
event started, listed by its id)."""

from __future__ import annotations

from pydantic import BaseModel

from mesh import Agent, TaskContext
from schemas import REGISTRY
from tests.gateway.agents import Prompt

PARCEL_ARRIVED = "gateway_test.parcel.arrived"

parent = Agent(
    "parent", description="Delegates its prompt to `slow` and waits.", delegates_to=["slow"]
)
intake = Agent(
    "intake", description="On a parcel's arrival, asks `echo` twice.", delegates_to=["echo"]
)


@REGISTRY.register(PARCEL_ARRIVED, 1)
class ParcelArrived(BaseModel):
    parcel_id: str


@parent.task
async def delegate_to_slow(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    child = await ctx.delegate("slow", prompt)
    return {"child": await child.result()}


@intake.on_event
async def check_parcel(ctx: TaskContext, event: ParcelArrived) -> dict[str, object]:
    seen = await ctx.delegate("echo", Prompt(text=f"{event.parcel_id} seen"))
    sorted_ = await ctx.delegate("echo", Prompt(text=f"{event.parcel_id} sorted"))
    answers = await ctx.gather(seen, sorted_)
    return {"answers": [answer["text"] for answer in answers]}
