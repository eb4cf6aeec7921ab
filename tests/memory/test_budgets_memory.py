"""Budgets (ADR 025) on the in-memory transport: the concurrency suite
(tests/contract/budget_behaviour.py); a call past a task's budget dead-letters it with
a message naming the budget and never reaches the provider; an agent type's budget
per day holds across its tasks; a keeper taking over a budget's partition rebuilds its
balance from the ledger; a failed request's reservation is released and its fallback
checked again."""

from __future__ import annotations

from mesh import Budget
from mesh.budgets import Budgets
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.memory import MemoryTransport
from schemas.tasks import TaskStatus
from tests.contract.budget_behaviour import BudgetBehaviour, Spend, spender
from tests.contract.model_behaviour import Ask, asker
from tests.memory.test_behaviour_memory import MemoryConfig
from tests.model_double import ModelDouble, Reply


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


async def test_a_keeper_that_takes_over_a_budget_rebuilds_it_from_the_ledger(
    memory_settings: Settings,
) -> None:
    transport = MemoryTransport()
    await transport.start()
    one, two = Budgets(transport, memory_settings), Budgets(transport, memory_settings)
    try:
        clients = [await one.started(), await two.started()]
        ask = {"limit": {"tokens": 30.0}, "ttl": 60.0, "timeout": 10.0}
        granted = await clients[0].ask("reserve", "task:r", "run/a", amounts={"tokens": 20}, **ask)
        assert granted.granted
        await clients[1].ask("settle", "task:r", "run/a", amounts={"tokens": 15}, **ask)
        assert one.keeper is not None
        owner, other = (0, 1) if one.keeper.book("task:r") is not None else (1, 0)
        await (one, two)[owner].stop()  # the other member gets its partitions, reads the ledger
        client = clients[other]
        reply = await client.ask("reserve", "task:r", "run/b", amounts={"tokens": 20}, **ask)
        assert not reply.granted  # 15 spent + 20 > 30: the balance survived the move
        assert reply.spent == {"tokens": 15.0}
        reply = await client.ask("reserve", "task:r", "run/c", amounts={"tokens": 15}, **ask)
        assert reply.granted and reply.reserved == {"tokens": 15.0}
    finally:
        await one.stop()
        await two.stop()
        await transport.stop()


async def test_a_fallback_is_checked_against_the_budget_again(
    memory_settings: Settings,
) -> None:
    with ModelDouble() as double:
        update = {"model_endpoint": double.url, "model_name": "small"}
        settings = memory_settings.model_copy(update=update)
        double.script(Reply(status=500), model="small")
        async with TestMesh(asker, settings=settings) as mesh:
            # Room for one estimate (~520 tokens: no max_tokens), not two: the failed
            # request's reservation must be released for the fallback's to fit.
            task = await mesh.client.submit(
                "asker", Ask(question="q").model_dump(), budget=Budget(tokens=600)
            )
            state = await mesh.client.wait(task, timeout=20)
            assert state.status is TaskStatus.SUCCEEDED, state.error
            assert state.result is not None and state.result["model"] == "backup"
            assert (double.calls("small"), double.calls("backup")) == (1, 1)
            (worker,) = mesh.workers
            service = worker.runner.models.budgets.service
            assert service is not None and service.keeper is not None
            book = service.keeper.book(f"task:{task}")
            assert book is not None and book.spent == {"tokens": 15} and book.reserved() == {}
