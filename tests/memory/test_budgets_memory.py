"""Budgets (ADR 025) on the in-memory transport: the concurrency suite
(tests/contract/budget_behaviour.py); a call past a task's budget dead-letters it with
a message naming the budget and never reaches the provider; an agent type's budget
per day holds across its tasks."""

from __future__ import annotations

from mesh import Budget
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskStatus
from tests.contract.budget_behaviour import BudgetBehaviour, Spend, spender
from tests.memory.test_behaviour_memory import MemoryConfig
from tests.model_double import ModelDouble


class TestMemoryBudgets(MemoryConfig, BudgetBehaviour):
    async def test_past_a_budget_the_task_is_dead_lettered_and_the_agent_budget_holds(
        self, model_settings: Settings, double: ModelDouble
    ) -> None:
        per_day = Settings(budgets={"agent:budget-spender": {"tokens": 40}}).budgets
        settings = model_settings.model_copy(update={"budgets": per_day})
        async with TestMesh(spender, settings=settings) as mesh:
            small = await mesh.client.submit(
                "budget-spender", Spend(question="q"), budget=Budget(tokens=5)
            )
            state = await mesh.client.wait(small, timeout=20)
            assert state.status is TaskStatus.DEAD_LETTERED
            assert state.budget == Budget(tokens=5)  # shown on the task's state
            assert state.error is not None
            assert f"does not fit budget task:{small} (limit 5 tokens" in state.error.message
            assert double.calls() == 0
            # 40 tokens a day for the agent type: two calls (estimates of ~21 settled to
            # 15 each) fit, the third does not.
            outcomes = []
            for i in range(3):
                task = await mesh.client.submit("budget-spender", Spend(question=f"q{i}"))
                outcomes.append(await mesh.client.wait(task, timeout=20))
            assert [s.status for s in outcomes] == [
                TaskStatus.SUCCEEDED,
                TaskStatus.SUCCEEDED,
                TaskStatus.DEAD_LETTERED,
            ]
            error = outcomes[2].error
            assert error is not None and "budget agent:budget-spender:" in error.message
            assert "spent 30 tokens" in error.message
            assert double.calls() == 2
