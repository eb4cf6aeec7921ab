"""The native API's `budget` field (ADR 025), on the in-memory transport: a budget of
zero or less is a 422 naming the field, and a budget given reaches the task's model
calls (too small a one dead-letters the task before any request). The same for a
LangGraph run's `config.configurable.mesh_budget`."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.settings import Settings
from tests.contract.budget_behaviour import spender
from tests.gateway.langgraph_support import poll
from tests.gateway.memory_support import memory_gateway
from tests.gateway.test_model_usage import chatty, helper
from tests.model_double import ModelDouble


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"usd": 0}, "body.budget.usd"),
        ({"tokens": -5}, "body.budget.tokens"),
        ({"usd": 1, "euros": 2}, "body.budget.euros"),
        ({}, "body.budget"),
    ],
)
async def test_a_budget_of_zero_or_less_is_422_naming_the_field(
    memory_settings: Settings, budget: dict[str, float], field: str
) -> None:
    async with memory_gateway(settings=memory_settings) as mesh:
        body = {"agent": "budget-spender", "input": {"question": "q"}, "budget": budget}
        response = await mesh.http.post("/v1/tasks", json=body)
        assert response.status_code == 422, response.text
        assert field in response.json()["detail"]


async def test_a_budget_given_bounds_the_tasks_model_calls(memory_settings: Settings) -> None:
    with ModelDouble() as double:
        update = {"model_endpoint": double.url, "model_name": "small"}
        settings = memory_settings.model_copy(update=update)
        async with memory_gateway(spender, settings=settings) as mesh:
            body = {"agent": "budget-spender", "input": {"question": "q"}, "budget": {"tokens": 3}}
            response = await mesh.http.post("/v1/tasks", json=body)
            assert response.status_code == 202, response.text
            task_id = response.json()["task_id"]
            state = await mesh.gateway.client.wait(task_id, timeout=20)
            assert state.error is not None and "limit 3 tokens" in state.error.message
            document = (await mesh.http.get(f"/v1/tasks/{task_id}")).json()
            assert document["budget"] == {"usd": None, "tokens": 3}
            assert double.calls() == 0


def _run(budget: dict[str, float]) -> dict[str, Any]:
    return {
        "assistant_id": "chatty",
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "config": {"configurable": {"mesh_budget": budget}},
        "on_completion": "keep",
    }


async def test_a_langgraph_run_takes_its_budget_from_its_config(memory_settings: Settings) -> None:
    with ModelDouble() as double:
        update = {"model_endpoint": double.url, "model_name": "small"}
        settings = memory_settings.model_copy(update=update)
        async with memory_gateway(chatty, helper, settings=settings) as mesh:
            refused = await mesh.http.post("/runs", json=_run({"usd": 0}))
            assert refused.status_code == 422, refused.text
            assert "body.config.configurable.mesh_budget.usd" in refused.json()["detail"]
            run = (await mesh.http.post("/runs", json=_run({"tokens": 3}))).json()
            run_url = f"/threads/{run['thread_id']}/runs/{run['run_id']}"
            ended = await poll(
                lambda: mesh.http.get(run_url),
                lambda r: r.json()["status"] != "pending" and r.json()["status"] != "running",
            )
            assert ended.json()["status"] == "error", ended.text
            assert double.calls() == 0
