"""Token and cost accounting of model calls (ADR 021), against the scripted double:
usage on a task's state while it runs, summed up the delegation tree; every paid call
counted once across a retry; the per-task cap on calls.

`ModelAccountingBehaviour` runs on the in-memory transport (tests/memory);
`ModelUsageCountedOnceBehaviour`, a retry counting its failed attempt's call once, on
the broker too (tests/broker: each test there costs seconds of group joins).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY as METRICS
from pydantic import BaseModel

from mesh import Agent, ModelSpec, RetryPolicy, TaskContext
from mesh.models.accounting import tree_usage
from mesh.prices import ModelPrice
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas import REGISTRY
from schemas.tasks import ModelUsage, TaskStatus
from tests.contract.config import Factory
from tests.contract.model_behaviour import Ask, _WithDouble, asker
from tests.helpers import eventually
from tests.model_double import ModelDouble, Reply

# USD per million tokens: "small" (the mesh's model) and "big" (the planner's).
_PRICES = {
    "small": ModelPrice(input=1.0, output=2.0),
    "big": ModelPrice(input=10.0, output=20.0, cached=5.0),
}


@REGISTRY.register("test.accounting.plan", 1)
class Plan(BaseModel):
    question: str


@REGISTRY.register("test.accounting.research", 1)
class Research(BaseModel):
    question: str


@REGISTRY.register("test.accounting.loop", 1)
class Loop(BaseModel):
    question: str
    calls: int  # distinct calls per run
    more_on_retry: int = 0  # further calls on attempt 2, after attempt 1 failed


planner = Agent("acct-planner", model=ModelSpec(name="big"), delegates_to=["acct-researcher"])
researcher = Agent("acct-researcher", model=ModelSpec())
_FAST = RetryPolicy(max_attempts=3, initial_delay=0.1)
looper = Agent("acct-looper", retry=_FAST, model=ModelSpec())


@planner.task
async def _plan(ctx: TaskContext, request: Plan) -> dict[str, Any]:
    await ctx.chat([{"role": "user", "content": f"plan {request.question}"}])
    child = await ctx.delegate("acct-researcher", Research(question=request.question))
    return {"research": await child}


@researcher.task
async def _research(ctx: TaskContext, request: Research) -> dict[str, Any]:
    await ctx.chat([{"role": "user", "content": f"research {request.question}"}])
    await ctx.chat([{"role": "user", "content": f"check {request.question}"}])
    await ctx.next_steer(timeout=30)  # holds the task running while the test looks
    return {"done": True}


holder = Agent("acct-holder", model=ModelSpec())
_RUNS: dict[str, int] = {}  # runs of each question's task


@holder.task
async def _hold(ctx: TaskContext, request: Research) -> dict[str, Any]:
    _RUNS[request.question] = _RUNS.get(request.question, 0) + 1
    await ctx.chat([{"role": "user", "content": request.question}])
    if _RUNS[request.question] == 1:
        await asyncio.Event().wait()  # until its worker stops and hands it back
    return {"runs": _RUNS[request.question]}


@looper.task
async def _loop(ctx: TaskContext, request: Loop) -> dict[str, Any]:
    for n in range(request.calls):
        await ctx.chat([{"role": "user", "content": f"{request.question} #{n}"}])
    if ctx.attempt == 1 and request.more_on_retry:
        raise ValueError("attempt 1 fails after its calls")
    for n in range(request.more_on_retry):
        await ctx.chat([{"role": "user", "content": f"{request.question} more #{n}"}])
    return {"attempt": ctx.attempt}


def _cost(agent: str, model: str) -> float:
    labels = {"agent": agent, "model": model}
    return METRICS.get_sample_value("mesh_llm_cost_usd_total", labels) or 0.0


def _line(agent: str, model: str, **numbers: Any) -> ModelUsage:
    return ModelUsage(agent=agent, model=model, **numbers)


def _same(lines: list[ModelUsage], expected: list[ModelUsage]) -> bool:
    """Equal lines, costs within float rounding."""
    costs = [line.cost_usd for line in lines]
    assert costs == pytest.approx([line.cost_usd for line in expected]), lines
    without_cost = [line.model_copy(update={"cost_usd": 0.0}) for line in lines]
    return without_cost == [line.model_copy(update={"cost_usd": 0.0}) for line in expected]


class ModelUsageCountedOnceBehaviour(_WithDouble):
    """On both transports: the retry (through the retry tier topics) counts the call its
    failed attempt journaled, once."""

    @pytest.fixture
    def priced(self, model_settings: Settings) -> Settings:
        return model_settings.model_copy(update={"model_prices": _PRICES})

    async def test_a_call_replayed_by_a_retry_is_counted_once(
        self, transport_factory: Factory, priced: Settings, double: ModelDouble
    ) -> None:
        double.script(Reply(content="once", input_tokens=40, output_tokens=10))
        async with TestMesh(asker, transport=transport_factory(), settings=priced) as m:
            task_id = await m.client.submit(
                "asker", Ask(question=uuid.uuid4().hex, fail_first_attempt=True).model_dump()
            )
            state = await m.client.wait(task_id, timeout=30)
        assert state.result is not None and state.result["attempt"] == 2, state.error
        assert double.calls() == 1
        once = _line("asker", "small", calls=1, input_tokens=40, output_tokens=10, cost_usd=6e-05)
        assert _same(state.usage, [once])


class ModelAccountingBehaviour(ModelUsageCountedOnceBehaviour):
    async def test_usage_shows_on_a_running_task_and_sums_up_the_tree(
        self, transport_factory: Factory, priced: Settings, double: ModelDouble
    ) -> None:
        q = uuid.uuid4().hex
        double.script(Reply(input_tokens=1000, output_tokens=100, cached_tokens=400), model="big")
        double.script(*[Reply(input_tokens=300, output_tokens=50)] * 2, model="small")
        before = _cost("acct-researcher", "small")
        mesh = TestMesh(planner, researcher, transport=transport_factory(), settings=priced)
        async with mesh as m:
            root = await m.client.submit("acct-planner", Plan(question=q).model_dump())
            tasks = m.client.view.tasks

            def researching() -> bool:
                child = next((t for t in tasks.values() if t.parent_task_id == root), None)
                return child is not None and child.usage != [] and child.usage[0].calls == 2

            await eventually(researching, timeout=20, what="the child's usage while it runs")
            child = next(t for t in tasks.values() if t.parent_task_id == root)
            assert child.status is TaskStatus.RUNNING  # visible before it ends
            await m.client.steer(child.task_id, "go on")
            state = await m.client.wait(root, timeout=30)
            assert state.status is TaskStatus.SUCCEEDED, state.error
            await eventually(lambda: tasks[child.task_id].status.is_terminal, timeout=10)
            big = _line(
                "acct-planner", "big", calls=1, input_tokens=1000, output_tokens=100,
                cached_tokens=400, cost_usd=0.006 + 0.002 + 0.002,  # 600 in, 400 cached, 100 out
            )  # fmt: skip
            small = _line(
                "acct-researcher", "small", calls=2, input_tokens=600, output_tokens=100,
                cost_usd=0.0008,  # 600 in at $1/M, 100 out at $2/M
            )  # fmt: skip
            assert _same(state.usage, [big])  # its own
            assert _same(tasks[child.task_id].usage, [small])
            assert _same(tree_usage(tasks, root), [big, small])  # its tree's
            assert _same(tree_usage(tasks, child.task_id), [small])
        assert _cost("acct-researcher", "small") == pytest.approx(before + 0.0008)

    async def test_a_run_on_another_worker_counts_the_call_from_the_journal(
        self, transport_factory: Factory, priced: Settings, double: ModelDouble
    ) -> None:
        q = uuid.uuid4().hex
        async with TestMesh(transport=transport_factory(), settings=priced) as m:
            first = await m.add_worker(
                holder, priced.model_copy(update={"shutdown_grace": 0, "instance_id": "a"})
            )
            task_id = await m.client.submit("acct-holder", Research(question=q).model_dump())
            tasks = m.client.view.tasks
            await eventually(
                lambda: task_id in tasks and bool(tasks[task_id].usage),
                timeout=20,
                what="the first run's call on the state",
            )
            await first.stop()  # handed back uncommitted: the next owner runs it again
            m.workers.remove(first)
            await m.add_worker(holder, priced.model_copy(update={"instance_id": "b"}))
            state = await m.client.wait(task_id, timeout=30)
        assert state.result == {"runs": 2} and state.instance == "b", state
        assert double.calls_with(q) == 1  # replayed from the journal the second worker read
        assert [(line.calls, line.input_tokens) for line in state.usage] == [(1, 10)]

    async def test_the_call_past_the_cap_fails_the_task_counting_earlier_runs(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        capped = model_settings.model_copy(update={"model_max_calls_per_task": 2})
        q = uuid.uuid4().hex
        request = Loop(question=q, calls=2, more_on_retry=1)
        async with TestMesh(looper, transport=transport_factory(), settings=capped) as m:
            task_id = await m.client.submit("acct-looper", request.model_dump())
            state = await m.client.wait(task_id, timeout=30)
        # Attempt 1 made 2 calls and failed; attempt 2 replayed them (allowed: nothing
        # paid) and its first new call was the third: permanent, not retried.
        assert state.status is TaskStatus.DEAD_LETTERED, state
        assert state.attempt == 2
        assert state.error is not None
        assert state.error.message.startswith("ModelCallLimitExceeded is permanent: "), state.error
        assert "model call 3 " in state.error.message
        assert "MESH_MODEL_MAX_CALLS_PER_TASK=2" in state.error.message
        assert double.calls_with(q) == 2
        assert [line.calls for line in state.usage] == [2]
