"""The typed agent API: a child's result comes back as the model its parent names, a
durable step gives back its function's return type whether it ran or was replayed."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from pydantic import BaseModel

from mesh import Agent, ChildResultInvalid, Retry, RetryPolicy, SetupError, TaskContext
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas import REGISTRY
from schemas.envelope import utc_now
from schemas.tasks import TaskStatus


@REGISTRY.register("test.typed.ask", 1)
class Ask(BaseModel):
    n: int = 1
    result: str = "good"  # which result model the parent names: "good", "bad" or "none"


class Answer(BaseModel):
    doubled: int


class Unrelated(BaseModel):
    missing: str


class Receipt(BaseModel):
    charge_id: str


parent = Agent("typed-parent", delegates_to=["typed-child"])
child = Agent("typed-child")
stepper = Agent("typed-stepper", retry=RetryPolicy(max_attempts=2, initial_delay=0.01))
CHARGES: Counter[str] = Counter()


@child.task
async def double(ctx: TaskContext, ask: Ask) -> Answer:
    return Answer(doubled=ask.n * 2)


@parent.task
async def ask_child(ctx: TaskContext, ask: Ask) -> dict[str, object]:
    if ask.result == "none":
        plain = await ctx.delegate("typed-child", ask)
        return {"type": type(await plain).__name__}
    if ask.result == "bad":
        wrong = await ctx.delegate("typed-child", ask, result=Unrelated)
        try:
            await wrong
        except ChildResultInvalid as exc:
            return {"type": type(exc).__name__, "also_setup": isinstance(exc, SetupError)}
    if ask.result == "both":
        try:
            await ctx.delegate("typed-child", ask, timeout=5, deadline=utc_now())
        except SetupError as exc:
            return {"type": type(exc).__name__}
    answer = await ctx.delegate("typed-child", ask, result=Answer, timeout=30)
    (same,) = await ctx.gather(answer)
    found = await answer
    return {"type": type(found).__name__, "doubled": found.doubled, "same": same == found}


async def charge(key: str) -> Receipt:
    CHARGES[key] += 1
    return Receipt(charge_id=key)


@stepper.task
async def pay(ctx: TaskContext, ask: Ask) -> dict[str, object]:
    if ask.result == "lambda":
        await ctx.step("charge", lambda: Receipt(charge_id="x"))
    receipt = await ctx.step("charge", charge, ctx.step_key("charge"))
    if ctx.attempt == 1:
        raise Retry("after the step: the retry replays it")
    return {"type": type(receipt).__name__, "charges": CHARGES[ctx.step_key("charge")]}


async def test_a_child_result_comes_back_as_the_named_model(memory_settings: Settings) -> None:
    async with TestMesh(parent, child, settings=memory_settings) as mesh:
        runs = {
            kind: await mesh.client.submit("typed-parent", {"n": 21, "result": kind})
            for kind in ("good", "bad", "none", "both")
        }
        ended = {kind: await mesh.client.wait(task, timeout=10) for kind, task in runs.items()}
    assert ended["good"].result == {"type": "Answer", "doubled": 42, "same": True}
    assert ended["bad"].result == {"type": "ChildResultInvalid", "also_setup": True}
    assert ended["none"].result == {"type": "dict"}
    assert ended["both"].result == {"type": "SetupError"}


async def test_a_replayed_step_returns_its_function_return_type(memory_settings: Settings) -> None:
    async with TestMesh(stepper, settings=memory_settings) as mesh:
        task_id = await mesh.client.submit("typed-stepper", {})
        state = await mesh.client.wait(task_id, timeout=15)
        assert state.attempt == 2
        assert state.result == {"type": "Receipt", "charges": 1}  # ran once, replayed once

        untyped = await mesh.client.submit("typed-stepper", {"result": "lambda"})
        state = await mesh.client.wait(untyped, timeout=15)
    assert state.status is TaskStatus.DEAD_LETTERED  # SetupError is permanent
    assert state.error is not None and "no return annotation" in state.error.message


def test_importing_schemas_registers_only_the_mesh_messages() -> None:
    code = (
        "import schemas; print(sorted({t.split('.')[0] for t, _ in schemas.REGISTRY.registered()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['mesh']"
