"""A task tree's model usage through the gateway (ADR 021), on the in-memory transport
against the scripted model double: `GET /v1/tasks/{id}` shows the task's own `usage`
and its tree's `usage_total`; a LangGraph run's metadata carries `mesh_usage`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mesh import Agent, ModelSpec, TaskContext
from mesh.prices import ModelPrice
from mesh.settings import Settings
from tests.gateway.agents import Prompt
from tests.gateway.langgraph_support import poll
from tests.gateway.memory_support import memory_gateway
from tests.model_double import ModelDouble, Reply

chatty = Agent("chatty", model=ModelSpec(), delegates_to=["chatty-helper"])
helper = Agent("chatty-helper", model=ModelSpec(name="helper-model"))


@chatty.task
async def _chatty(ctx: TaskContext, prompt: Prompt) -> dict[str, Any]:
    await ctx.chat([{"role": "user", "content": prompt.last_text()}])
    child = await ctx.delegate("chatty-helper", Prompt(text=f"help with {prompt.last_text()}"))
    return {"text": (await child)["text"]}


@helper.task
async def _helper(ctx: TaskContext, prompt: Prompt) -> dict[str, Any]:
    answer = await ctx.chat([{"role": "user", "content": prompt.text}])
    return {"text": answer.content or ""}


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        double.default = Reply(content="helped", input_tokens=100, output_tokens=50)
        yield double


@pytest.fixture
def settings(double: ModelDouble) -> Settings:
    return Settings(
        model_endpoint=double.url,
        model_name="small",
        model_prices={"small": ModelPrice(input=1.0, output=2.0)},  # $0.0002 a call here
    )


_CHATTY = {"agent": "chatty", "model": "small", "calls": 1, "input_tokens": 100}
_HELPER = {"agent": "chatty-helper", "model": "helper-model", "calls": 1, "input_tokens": 100}


def _has(line: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(line[key] == value for key, value in expected.items())


async def test_a_task_shows_its_own_usage_and_its_trees(settings: Settings) -> None:
    async with memory_gateway(chatty, helper, settings=settings) as mesh:
        submitted = await mesh.http.post("/v1/tasks", json={"agent": "chatty", "input": {}})
        task_url = submitted.json()["status_url"]
        document = (
            await poll(lambda: mesh.http.get(task_url), lambda r: r.json()["status"] == "succeeded")
        ).json()
    [own] = document["usage"]
    assert _has(own, _CHATTY) and own["cost_usd"] == pytest.approx(0.0002)
    chatty_line, helper_line = document["usage_total"]
    assert _has(chatty_line, _CHATTY) and _has(helper_line, _HELPER)
    assert helper_line["cost_usd"] == 0.0  # "helper-model" is not in the price table


async def test_a_langgraph_run_carries_its_trees_usage_in_its_metadata(
    settings: Settings,
) -> None:
    body = {
        "assistant_id": "chatty",
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "metadata": {"mine": 1},
        "on_completion": "keep",
    }
    async with memory_gateway(chatty, helper, settings=settings) as mesh:
        run = (await mesh.http.post("/runs", json=body)).json()
        run_url = f"/threads/{run['thread_id']}/runs/{run['run_id']}"
        ended = (
            await poll(lambda: mesh.http.get(run_url), lambda r: r.json()["status"] == "success")
        ).json()
    metadata = ended["metadata"]
    assert metadata["mine"] == 1  # the client's own metadata is kept
    usage = metadata["mesh_usage"]
    assert (usage["calls"], usage["input_tokens"], usage["output_tokens"]) == (2, 200, 100)
    assert usage["cost_usd"] == pytest.approx(0.0002)
    assert [line["agent"] for line in usage["by_model"]] == ["chatty", "chatty-helper"]
