"""Agents and contracts used by the runtime behaviour suite (types prefixed `test.`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from mesh import Agent, ChildFailed, ChildTimedOut, Reject, Retry, RetryPolicy, TaskContext
from schemas import REGISTRY


@REGISTRY.register("test.work", 1)
class Work(BaseModel):
    seconds: float = 0.0
    fail: bool = False
    wait_for_steer: bool = False
    progress_steps: int = 0
    label: str = ""
    fail_before_attempt: int = 0  # raise ValueError on every attempt before this one
    retry_after: float | None = None  # raise Retry(after=...) on the first attempt
    reject: bool = False
    hang_first_attempt: bool = False  # attempt 1 waits, and finishes even when cancelled
    ask_human: str = ""  # escalate with this question; return the answer
    result_bytes: int = 0  # pad the result with this many bytes
    own_timeout_first_attempt: bool = False  # attempt 1: the handler's own timeout fires
    meet: int = 0  # wait until this many siblings (same parent) run, before the sleep


@REGISTRY.register("test.spread", 1)
class Spread(BaseModel):
    children: int
    seconds: float = 0.0
    fail_child: bool = False
    child_deadline: float | None = None  # seconds from now
    child_fail_before_attempt: int = 0  # each child fails its attempts before this one
    meet: bool = False  # the children meet (all running at once) before they sleep


@REGISTRY.register("test.chain", 1)
class Chain(BaseModel):
    """`chief` -> `boss` -> `worker`s: two levels of delegation."""

    children: int
    child_fail_before_attempt: int = 0


@REGISTRY.register("test.durable", 1)
class Durable(BaseModel):
    key: str  # unique per test: the counters below are per process
    hold: bool = False  # the first run waits (to be handed back) after delegating
    fail_first_attempt: bool = False  # attempt 1 fails after its step
    step_bytes: int = 0  # the step returns this many bytes of padding


@REGISTRY.register("test.noticed", 1)
class Noticed(BaseModel):
    item_id: str


@REGISTRY.register("test.echoed", 1)
class Echoed(BaseModel):
    item_id: str
    by: str


# Two quick attempts, so failure tests exercise a retry without waiting for one.
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=0.2)
worker_agent = Agent("worker", description="does test work", retry=FAST_RETRY)
durable = Agent("durable", delegates_to=["worker"], retry=FAST_RETRY)

# Test ledgers (per process): how often each key's side effect, handler and child ran.
EFFECTS: Counter[str] = Counter()
DURABLE_RUNS: Counter[str] = Counter()
WORK_RUNS: Counter[str] = Counter()
# Siblings that meet (per process, by parent task id): parallelism is then shown by a
# condition every child waits on, not by hoping all start within `seconds` of each other.
ARRIVED: Counter[str] = Counter()
ALL_ARRIVED: dict[str, asyncio.Event] = {}
boss = Agent("boss", delegates_to=["worker"])
chief = Agent("chief", delegates_to=["boss"])
listener = Agent("listener", emits=["test.echoed"])


@worker_agent.task
async def work(ctx: TaskContext, request: Work) -> dict[str, object]:
    WORK_RUNS[request.label] += 1
    for step in range(request.progress_steps):
        await ctx.progress(f"step {step}", step=step)
        await asyncio.sleep(0.05)
    if request.ask_human:
        answer = await ctx.escalate(request.ask_human, timeout=30)
        return {"answer": answer.text if answer else None}
    if request.hang_first_attempt and ctx.attempt == 1:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:  # a handler that finishes its work regardless
            await asyncio.sleep(0.2)
        return {"label": "attempt 1, late"}
    if request.wait_for_steer:
        steer = await ctx.next_steer(timeout=30)
        return {"steered": steer.text if steer else None}
    if request.own_timeout_first_attempt and ctx.attempt == 1:
        async with asyncio.timeout(0.01):  # like a model call's client-side timeout
            await asyncio.sleep(30)
    if request.meet:
        await meet_siblings(ctx.parent_task_id or ctx.task_id, request.meet)
    await asyncio.sleep(request.seconds)
    if request.reject:
        raise Reject(f"rejected ({request.label})")
    if request.retry_after is not None and ctx.attempt == 1:
        raise Retry("rate limited", after=request.retry_after)
    if ctx.attempt < request.fail_before_attempt:
        raise ValueError(f"attempt {ctx.attempt} fails")
    if request.fail:
        raise ValueError(f"asked to fail ({request.label})")
    if request.result_bytes:
        return {"label": request.label, "pad": "x" * request.result_bytes}
    return {"label": request.label}


async def meet_siblings(parent: str, count: int) -> None:
    """Return once `count` siblings are running; a child that waits 20 s alone raises."""
    everyone = ALL_ARRIVED.setdefault(parent, asyncio.Event())
    ARRIVED[parent] += 1
    if ARRIVED[parent] >= count:
        everyone.set()
    async with asyncio.timeout(20):
        await everyone.wait()


@boss.task
async def spread(ctx: TaskContext, request: Spread) -> dict[str, object]:
    deadline = None
    if request.child_deadline is not None:
        deadline = datetime.now(UTC) + timedelta(seconds=request.child_deadline)
    handles = [
        await ctx.delegate(
            "worker",
            Work(
                seconds=request.seconds,
                label=str(i),
                fail=request.fail_child,
                fail_before_attempt=request.child_fail_before_attempt,
                meet=request.children if request.meet else 0,
            ),
            deadline=deadline,
        )
        for i in range(request.children)
    ]
    try:
        results = await ctx.gather(*handles)
    except ChildTimedOut as exc:
        return {"timed_out": exc.task_id}
    except ChildFailed as exc:
        return {"fallback": True, "error": exc.error.message if exc.error else ""}
    return {"labels": [r["label"] for r in results]}


@chief.task
async def chain(ctx: TaskContext, request: Chain) -> dict[str, object]:
    spread = Spread(
        children=request.children, child_fail_before_attempt=request.child_fail_before_attempt
    )
    return {"boss": await (await ctx.delegate("boss", spread))}


@durable.task
async def durable_work(ctx: TaskContext, request: Durable) -> dict[str, object]:
    DURABLE_RUNS[request.key] += 1

    def effect() -> dict[str, object]:
        EFFECTS[request.key] += 1
        return {"row": EFFECTS[request.key], "padding": "x" * request.step_bytes}

    row = await ctx.step("effect", effect)
    if request.fail_first_attempt and ctx.attempt == 1:
        raise ValueError("attempt 1 fails after its step")
    child = await ctx.delegate("worker", Work(label=request.key))
    if request.hold and DURABLE_RUNS[request.key] == 1:
        await asyncio.sleep(3600)  # until this run is handed back
    done = await child
    return {"row": row["row"], "child": done["label"], "runs": DURABLE_RUNS[request.key]}


@listener.on_event
async def on_noticed(ctx: TaskContext, event: Noticed) -> None:
    await ctx.emit(Echoed(item_id=event.item_id, by=ctx.agent.name), key=event.item_id)
