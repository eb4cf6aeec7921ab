"""Budgets (ADR 025) on a transport: concurrent calls of two processes under one root
task's budget never overspend it; the children draw from the root's budget; a handler
that catches `BudgetExceeded` degrades. The model double counts the requests that
reached it: a refused call never does.

Subclasses provide `transport_factory` and `settings`, as for `RuntimeBehaviour`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from mesh import Agent, Budget, BudgetExceeded, ModelSpec, RetryPolicy, TaskContext
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas import REGISTRY
from schemas.tasks import TaskStatus
from tests.contract.config import Factory
from tests.contract.model_behaviour import _WithDouble
from tests.model_double import ModelDouble

# The double answers 10 input + 5 output tokens; a call asks for at most 20 tokens,
# so its estimate is its prompt's characters / 4 + 1 + 20 (about 25), settled to 15.
ANSWERED = 15
BUDGET = 100  # tokens: at most 6 answered calls, and fewer while estimates are held


@REGISTRY.register("test.budget.spend", 1)
class Spend(BaseModel):
    question: str
    degrade: bool = False  # catch BudgetExceeded and answer without the model


@REGISTRY.register("test.budget.plan", 1)
class Plan(BaseModel):
    children: int


_ONCE = RetryPolicy(max_attempts=1)
spender = Agent("budget-spender", retry=_ONCE, model=ModelSpec())
planner = Agent("budget-planner", retry=_ONCE, delegates_to=["budget-spender"])


@spender.task
async def _spend(ctx: TaskContext, request: Spend) -> dict[str, Any]:
    messages = [{"role": "user", "content": request.question}]
    try:
        answer = await ctx.chat(messages, max_tokens=20)
    except BudgetExceeded as exc:
        if not request.degrade:
            raise
        return {"degraded": str(exc)}  # a cheaper path: no model at all
    return {"content": answer.content}


@planner.task
async def _plan(ctx: TaskContext, request: Plan) -> dict[str, Any]:
    handles = [
        await ctx.delegate("budget-spender", Spend(question=f"q{i}", degrade=True))
        for i in range(request.children)
    ]
    results = await asyncio.gather(*handles)
    return {"answered": sum(1 for r in results if "content" in r), "results": results}


def _keeper_book(mesh: TestMesh, budget: str) -> Any:
    for worker in mesh.workers:
        service = worker.runner.models.budgets.service
        keeper = service.keeper if service is not None else None
        book = keeper.book(budget) if keeper is not None else None
        if book is not None:
            return book
    return None


class BudgetBehaviour(_WithDouble):
    async def test_concurrent_calls_under_one_root_budget_never_overspend_it(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        async with TestMesh(
            spender,
            planner,
            transport=transport_factory(),
            settings=model_settings,
            workers_per_agent=2,
        ) as mesh:
            root = await mesh.client.submit(
                "budget-planner", Plan(children=10), budget=Budget(tokens=BUDGET)
            )
            state = await mesh.client.wait(root, timeout=60)
            assert state.status is TaskStatus.SUCCEEDED, state.error
            assert state.result is not None
            answered = state.result["answered"]
            # Every answered call reached the double, no refused one did ...
            assert double.calls() == answered
            # ... and what they spent fits the budget, reservations included.
            assert answered >= 1 and answered * ANSWERED <= BUDGET
            degraded = [r["degraded"] for r in state.result["results"] if "degraded" in r]
            assert len(degraded) == 10 - answered
            assert f"budget task:{root}" in degraded[0]  # the children drew from the root's
            book = _keeper_book(mesh, f"task:{root}")
            assert book is not None
            assert book.spent == {"tokens": answered * ANSWERED} and book.reserved() == {}
