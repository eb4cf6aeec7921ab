"""The real Deep Agents async-subagent tools against the gateway (reference 5.5, 5.6).

The tools are called directly, sync (`.func`, the sync SDK) and async (`.coroutine`),
with their state kept as the graph's reducer would keep it. The last test runs a whole
`create_deep_agent` supervisor whose chat model is a scripted test double (no LLM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import deepagents.middleware.async_subagents as async_subagents
import httpx
import pytest
from deepagents import create_deep_agent
from deepagents.middleware.async_subagents import AsyncSubAgentMiddleware
from langchain.tools import ToolRuntime
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.types import Command
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient

from tests.gateway.conftest import GatewayServer
from tests.gateway.langgraph_support import clean_client_env, poll  # noqa: F401
from tests.research_support import ResearchScript

pytestmark = pytest.mark.broker

Mode = Literal["sync", "async"]


def subagents(url: str) -> list[Any]:
    return [
        {"name": "echoer", "description": "echoes", "graph_id": "echo", "url": url},
        {"name": "napper", "description": "naps", "graph_id": "napper", "url": url},
        {
            "name": "queued-napper",
            "description": "naps; follow-ups wait their turn",
            "graph_id": "napper",
            "url": url,
            "update_strategy": "enqueue",
        },
        {"name": "failer", "description": "fails", "graph_id": "fail", "url": url},
        {"name": "asker", "description": "asks a human", "graph_id": "ask", "url": url},
        {"name": "research", "description": "researches", "graph_id": "research", "url": url},
    ]


class Supervisor:
    """The five tools, and the `async_tasks` state their Commands update."""

    def __init__(self, url: str, mode: Mode) -> None:
        middleware = AsyncSubAgentMiddleware(async_subagents=subagents(url))
        self.tools = {tool.name: tool for tool in middleware.tools}
        self.mode = mode
        self.tasks: dict[str, Any] = {}

    async def call(self, name: str, **args: Any) -> str:
        """The tool's answer to the model (a text, or the Command's tool message)."""
        runtime = ToolRuntime(
            state={"async_tasks": dict(self.tasks), "messages": []},
            context=None,
            config={"configurable": {"thread_id": "parent-1"}},
            stream_writer=lambda _: None,
            tool_call_id="call-1",
            store=None,
        )
        tool = self.tools[name]
        if self.mode == "sync":
            assert tool.func is not None
            out = tool.func(runtime=runtime, **args)
        else:
            assert tool.coroutine is not None
            out = await tool.coroutine(runtime=runtime, **args)
        if isinstance(out, str):
            return out
        assert isinstance(out, Command) and isinstance(out.update, dict)
        self.tasks.update(out.update.get("async_tasks", {}))
        return str(out.update["messages"][0].content)

    async def start(self, description: str, subagent: str) -> str:
        answer = await self.call(
            "start_async_task", description=description, subagent_type=subagent
        )
        assert answer.startswith("Launched async subagent. task_id: "), answer
        return answer.rsplit(" ", 1)[1]

    async def check(self, task_id: str) -> dict[str, Any]:
        return dict(json.loads(await self.call("check_async_task", task_id=task_id)))

    async def check_until(self, task_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
        return await poll(
            lambda: self.check(task_id), lambda c: c["status"] == status, timeout=timeout
        )


@pytest.fixture(autouse=True)
async def close_subagent_clients(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Deep Agents caches the SDK clients it makes and never closes them: close them."""
    made: list[LangGraphClient | SyncLangGraphClient] = []

    def recorded(factory: Any) -> Any:
        def make(**kwargs: Any) -> Any:
            made.append(client := factory(**kwargs))
            return client

        return make

    monkeypatch.setattr(async_subagents, "get_client", recorded(get_client))
    monkeypatch.setattr(async_subagents, "get_sync_client", recorded(get_sync_client))
    yield
    for client in made:
        if isinstance(client, SyncLangGraphClient):
            client.close()
        else:
            await client.aclose()


@pytest.fixture(params=["sync", "async"])
def supervisor(request: pytest.FixtureRequest, langgraph_gateway: GatewayServer) -> Supervisor:
    return Supervisor(langgraph_gateway.url, request.param)


@pytest.fixture
async def sdk(langgraph_gateway: GatewayServer) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=langgraph_gateway.url, api_key=None) as client:
        yield client


async def run_statuses(sdk: LangGraphClient, thread_id: str) -> list[str]:
    return [run["status"] for run in await sdk.runs.list(thread_id)]  # newest first


async def test_start_then_check_reaches_success_with_the_answer(
    supervisor: Supervisor, sdk: LangGraphClient
) -> None:
    task_id = await supervisor.start("hi", "echoer")
    thread = await sdk.threads.get(task_id)  # the task id is the gateway's thread id
    assert thread["metadata"]["subagent_name"] == "echoer"
    assert thread["metadata"]["parent_thread_id"] == "parent-1"
    assert (await supervisor.check(task_id))["status"] in ("pending", "running", "success")
    checked = await supervisor.check_until(task_id, "success")
    assert checked["result"] == "echo: hi"


async def test_update_interrupts_the_running_run_and_answers_the_follow_up(
    supervisor: Supervisor, sdk: LangGraphClient
) -> None:
    task_id = await supervisor.start("nap 30", "napper")
    await poll(lambda: run_statuses(sdk, task_id), lambda s: s == ["running"])
    answer = await supervisor.call("update_async_task", task_id=task_id, message="nap 0.1")
    assert answer.startswith("Updated async subagent"), answer
    checked = await supervisor.check_until(task_id, "success")
    assert checked["result"] == "napped: nap 0.1"
    assert await run_statuses(sdk, task_id) == ["success", "interrupted"]


async def test_update_with_enqueue_queues_the_follow_up(
    supervisor: Supervisor, sdk: LangGraphClient
) -> None:
    task_id = await supervisor.start("nap 0.5", "queued-napper")
    answer = await supervisor.call("update_async_task", task_id=task_id, message="nap 0.1")
    assert answer.startswith("Queued follow-up"), answer
    assert supervisor.tasks[task_id]["status"] == "pending"  # the create response's status
    checked = await supervisor.check_until(task_id, "success")
    assert checked["result"] == "napped: nap 0.1"
    assert await run_statuses(sdk, task_id) == ["success", "success"]
    history = (await sdk.threads.get(task_id))["values"]["messages"]
    assert [m["content"] for m in history] == [
        "nap 0.5",
        "napped: nap 0.5",
        "nap 0.1",
        "napped: nap 0.1",
    ]


async def test_cancel_ends_the_task_and_list_shows_it_cancelled(
    supervisor: Supervisor, sdk: LangGraphClient
) -> None:
    task_id = await supervisor.start("nap 30", "queued-napper")
    await supervisor.call("update_async_task", task_id=task_id, message="nap 30")
    answer = await supervisor.call("cancel_async_task", task_id=task_id)
    assert answer == f"Cancelled async subagent task: {task_id}"
    # Both the running run and the queued follow-up end interrupted.
    await poll(lambda: run_statuses(sdk, task_id), lambda s: s == ["interrupted", "interrupted"])
    listed = await supervisor.call("list_async_tasks")
    assert task_id in listed and "cancelled" in listed


async def test_check_follows_a_run_started_on_the_thread_by_someone_else(
    sdk: LangGraphClient, langgraph_gateway: GatewayServer
) -> None:
    supervisor = Supervisor(langgraph_gateway.url, "async")
    task_id = await supervisor.start("nap 30", "napper")
    newer = await sdk.runs.create(
        task_id,
        "napper",
        input={"messages": [{"role": "user", "content": "nap 0.1"}]},
        multitask_strategy="interrupt",
    )
    # Its own run ended interrupted, not by its hand: it takes the newest run instead.
    checked = await supervisor.check_until(task_id, "success")
    assert checked["result"] == "napped: nap 0.1"
    assert supervisor.tasks[task_id]["run_id"] == newer["run_id"]


async def test_a_failure_and_a_question_for_a_human(
    supervisor: Supervisor, sdk: LangGraphClient
) -> None:
    failed = await supervisor.start("boom", "failer")
    checked = await supervisor.check_until(failed, "error")
    assert "asked to fail: boom" in checked["error"]

    asking = await supervisor.start("deploy", "asker")
    waiting = await supervisor.check_until(asking, "waiting")
    assert [i["value"] for i in waiting["interrupts"]] == ["approve 'deploy'?"]
    await sdk.runs.create(asking, "ask", command={"resume": "go ahead"})
    resumed = await supervisor.check_until(asking, "success")
    assert resumed["result"] == "human said: go ahead"


class ScriptedChatModel(GenericFakeChatModel):
    """A test double for the supervisor's LLM: it answers from a script, tools or not."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


async def test_a_deep_agent_supervisor_delegates_and_hears_the_completion(
    langgraph_gateway: GatewayServer, sdk: LangGraphClient
) -> None:
    start = {
        "name": "start_async_task",
        "id": "c1",
        "args": {"description": "nap 1", "subagent_type": "napper"},
    }
    model = ScriptedChatModel(
        messages=iter(
            [
                AIMessage("", tool_calls=[start]),
                AIMessage("Started."),
                AIMessage("Noted."),
                AIMessage("spare"),
            ]
        )
    )
    napper = [s for s in subagents(langgraph_gateway.url) if s["name"] == "napper"]
    agent = create_deep_agent(model=model, subagents=napper)
    out = await agent.ainvoke({"messages": [{"role": "user", "content": "go"}]})
    [(task_id, task)] = out["async_tasks"].items()
    assert task["status"] in ("pending", "running")  # the nap takes 1 s; this turn less
    await poll(lambda: run_statuses(sdk, task_id), lambda s: s == ["success"])
    turn = {**out, "messages": [*out["messages"], {"role": "user", "content": "news?"}]}
    out2 = await agent.ainvoke(turn)
    assert out2["async_tasks"][task_id]["status"] == "success"
    notes = [str(m.content) for m in out2["messages"] if "<task-notification>" in str(m.content)]
    assert len(notes) == 1
    assert "<status>success</status>" in notes[0] and "napped: nap 1" in notes[0]


async def findings_streamed(sdk: LangGraphClient, thread_id: str, run_id: str) -> list[str]:
    """The run's progress messages (its `custom` stream) until synthesis starts from
    the findings of 4 of the 5 researchers."""
    seen: list[str] = []
    stream = sdk.runs.join_stream(thread_id, run_id, stream_mode="custom")
    async with contextlib.aclosing(stream) as parts:  # type: ignore[type-var]
        async for part in parts:
            if part.event == "custom":
                seen.append(part.data["message"])
            if "synthesising from 12 findings" in seen:
                break
    return seen


def unfinished_researchers(url: str) -> list[str]:
    listed = httpx.get(f"{url}/v1/tasks", params={"agent": "researcher", "limit": 100}).json()
    return [t["task_id"] for t in listed["tasks"] if t["status"] in ("submitted", "running")]


async def test_the_research_desk_as_an_async_subagent(
    langgraph_gateway: GatewayServer, research_script: ResearchScript, sdk: LangGraphClient
) -> None:
    """Start, check with partial results (the run's `custom` stream), update, cancel and
    list, on the research desk; its completion is tested in tests/memory and tests/e2e."""
    supervisor = Supervisor(langgraph_gateway.url, "async")
    research_script.hold("Generator expressions")  # one researcher stays at its first passage
    try:
        task_id = await supervisor.start("How do Python generators work?", "research")
        seen = await findings_streamed(sdk, task_id, supervisor.tasks[task_id]["run_id"])
        assert sum(message.startswith("finding ") for message in seen) == 12
        assert (await supervisor.check(task_id))["status"] == "running"
        # A follow-up interrupts the run: its research task is cancelled, with the
        # researcher still reading; the follow-up starts a research of its own.
        answer = await supervisor.call(
            "update_async_task", task_id=task_id, message="What does yield from do?"
        )
        assert answer.startswith("Updated async subagent"), answer
        await poll(
            lambda: run_statuses(sdk, task_id), lambda s: s[1:] == ["interrupted"], timeout=30
        )
        answer = await supervisor.call("cancel_async_task", task_id=task_id)
        assert answer == f"Cancelled async subagent task: {task_id}"
        await poll(
            lambda: run_statuses(sdk, task_id), lambda s: s == ["interrupted"] * 2, timeout=30
        )
        await poll(  # every branch of both researches ended
            lambda: asyncio.to_thread(unfinished_researchers, langgraph_gateway.url),
            lambda found: found == [],
            timeout=30,
        )
        listed = await supervisor.call("list_async_tasks")
        assert task_id in listed and "cancelled" in listed
    finally:
        research_script.release()
