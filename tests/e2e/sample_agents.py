"""Agents for the process-level tests: `python -m mesh run tests.e2e.sample_agents:<name>`."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from pydantic import BaseModel

from mesh import Agent, ChildTimedOut, RetryPolicy, TaskContext
from schemas import REGISTRY
from schemas.envelope import utc_now


@REGISTRY.register("e2e.sleep", 1)
class Sleep(BaseModel):
    seconds: float
    label: str = ""
    wait_for_steer: bool = False


@REGISTRY.register("e2e.hang", 1)
class Hang(BaseModel):
    label: str = ""


@REGISTRY.register("e2e.job", 1)
class Job(BaseModel):
    n: int


@REGISTRY.register("e2e.fanout", 1)
class FanOut(BaseModel):
    children: int
    seconds: float


sleeper = Agent("sleeper", description="Sleeps (I/O stand-in); can be steered.")
flaky = Agent(
    "flaky",
    description="Fails every job while the file $FLAKY_BROKEN exists.",
    retry=RetryPolicy(max_attempts=1),
)
steady = Agent("steady", description="Does the jobs of flaky when its circuit is open.")
hanger = Agent("hanger", description="Attempt 1 hangs without progress; later ones answer.")
wedged = Agent("wedged", description="Attempt 1 hangs; the supervisor hands it to a human.")
absent = Agent("absent", description="Answers jobs; the tests start it late, or never.")
impatient = Agent("impatient", description="Gives `absent` 2 s for a job.", delegates_to=["absent"])
fanout = Agent("fanout", description="Delegates N sleeps in parallel.", delegates_to=["sleeper"])
napper = Agent("napper", description="Sleeps as well: a second type beside sleeper in one process.")


@sleeper.task
async def sleep(ctx: TaskContext, request: Sleep) -> dict[str, object]:
    if request.wait_for_steer:
        await ctx.progress("waiting for steering")
        steer = await ctx.next_steer(timeout=request.seconds)
        return {"label": request.label, "steered": steer.text if steer else None}
    await asyncio.sleep(request.seconds)
    return {"label": request.label}


@napper.task
async def nap(ctx: TaskContext, request: Sleep) -> dict[str, object]:
    await asyncio.sleep(request.seconds)
    return {"label": request.label, "by": "napper"}


@fanout.task
async def fan_out(ctx: TaskContext, request: FanOut) -> dict[str, object]:
    handles = [
        await ctx.delegate("sleeper", Sleep(seconds=request.seconds, label=str(i)))
        for i in range(request.children)
    ]
    results = await ctx.gather(*handles)
    return {"labels": [r["label"] for r in results]}


@hanger.task
async def hang(ctx: TaskContext, request: Hang) -> dict[str, object]:
    if ctx.attempt == 1:
        try:
            await asyncio.sleep(3600)  # wedged: no progress until the supervisor acts
        except asyncio.CancelledError:  # and, like much real code, finishes regardless
            await asyncio.sleep(0.5)
        return {"label": request.label, "attempt": 1}
    return {"label": request.label, "attempt": ctx.attempt}


@wedged.task
async def wedge(ctx: TaskContext, request: Hang) -> dict[str, object]:
    if ctx.attempt == 1:
        await asyncio.sleep(3600)  # wedged until the supervisor acts
    told = await ctx.next_steer(timeout=0.1)
    return {"label": request.label, "attempt": ctx.attempt, "human": told and told.text}


@absent.task
async def absent_job(ctx: TaskContext, job: Job) -> dict[str, object]:
    return {"n": job.n, "by": "absent"}


@impatient.task
async def ask_absent(ctx: TaskContext, job: Job) -> dict[str, object]:
    child = await ctx.delegate("absent", job, deadline=utc_now() + timedelta(seconds=2))
    try:
        return await child
    except ChildTimedOut as exc:
        return {"n": job.n, "child": child.task_id, "timed_out": str(exc)}


@flaky.task
async def flaky_job(ctx: TaskContext, job: Job) -> dict[str, object]:
    broken = os.environ.get("FLAKY_BROKEN", "")
    if broken and await asyncio.to_thread(os.path.exists, broken):
        raise RuntimeError(f"job {job.n}: the dependency is down")
    return {"n": job.n, "by": "flaky"}


@steady.task
async def steady_job(ctx: TaskContext, job: Job) -> dict[str, object]:
    return {"n": job.n, "by": "steady"}
