"""What `ctx.chat_with_tools` must do (issue 15 guarantee 6), against the scripted model
double (tests/model_double.py): agents offered as tools, their calls run as concurrent
delegations, results and steers back into the conversation, invalid arguments and
unknown tools answered to the model, the iteration limit, cancellation of the calls in
flight, and a re-run that replays the loop without a new model call or child.

The tool agents coordinate through module state (the test mesh runs in-process): a
call that must overlap another waits until both have started, so concurrency is shown
by a condition, not by timing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel

from mesh import Agent, AgentTool, FunctionTool, ModelSpec, RetryPolicy, TaskContext
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.topics import Topics
from schemas import REGISTRY, decode_envelope
from schemas.tasks import TaskStatus
from tests.contract.config import Factory
from tests.contract.model_behaviour import _WithDouble
from tests.helpers import eventually, eventually_true, read_all
from tests.model_double import ModelDouble, Reply

RUNS: Counter[tuple[str, str]] = Counter()  # (run, agent or function): executions
STARTED: defaultdict[str, set[str]] = defaultdict(set)  # run: tool agents started
RELEASE: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)  # run: unblock


class _Coordination(BaseModel):
    run: str
    wait_for_peer: bool = False  # finish only once another tool call has started too
    block: bool = False  # wait for RELEASE[run] (or a cancel)


@REGISTRY.register("test.tools.orders", 1)
class OrdersQuery(_Coordination):
    """Which orders a customer has."""

    customer: str


@REGISTRY.register("test.tools.kb", 1)
class KbQuery(_Coordination):
    query: str


@REGISTRY.register("test.tools.ask", 1)
class Ask(BaseModel):
    question: str
    max_iterations: int = 4
    output: bool = False  # the final answer as a `Summary`
    fail_first_attempt: bool = False  # attempt 1 raises after the loop


class Summary(BaseModel):
    summary: str


class AddArgs(BaseModel):
    run: str
    numbers: list[int]


class Total(BaseModel):
    total: int


_ONCE = RetryPolicy(max_attempts=1)
orders = Agent("tl-orders", description="Finds a customer's orders.", retry=_ONCE)
kb = Agent("tl-kb", description="Searches the knowledge base.", retry=_ONCE)
planner = Agent(
    "tl-planner",
    delegates_to=["tl-orders", "tl-kb"],
    retry=RetryPolicy(max_attempts=2, initial_delay=0.1, max_delay=0.1),
    model=ModelSpec(),
)


async def _tool_agent(ctx: TaskContext, query: _Coordination) -> dict[str, Any]:
    RUNS[query.run, ctx.agent.name] += 1
    STARTED[query.run].add(ctx.agent.name)
    if query.wait_for_peer:  # run one after the other, this fails after 10 s
        await eventually(lambda: len(STARTED[query.run]) >= 2, timeout=10, what="a peer call")
    if query.block:
        await RELEASE[query.run].wait()
    return {"agent": ctx.agent.name, "run": query.run}


@orders.task
async def find_orders(ctx: TaskContext, query: OrdersQuery) -> dict[str, Any]:
    return await _tool_agent(ctx, query)


@kb.task
async def search(ctx: TaskContext, query: KbQuery) -> dict[str, Any]:
    return await _tool_agent(ctx, query)


async def add(args: AddArgs) -> Total:
    """Adds numbers."""
    RUNS[args.run, "add"] += 1
    return Total(total=sum(args.numbers))


async def flaky(args: AddArgs) -> str:
    """Fails the first time it runs for a run key."""
    RUNS[args.run, "flaky"] += 1
    if RUNS[args.run, "flaky"] == 1:
        raise ValueError("flaky fails the first time")
    return "steady now"


TOOLS = [AgentTool(orders), AgentTool(kb), FunctionTool(add), FunctionTool(flaky)]


@planner.task
async def plan(ctx: TaskContext, ask: Ask) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": "Use the tools."},
        {"role": "user", "content": ask.question},
    ]
    if ask.output:
        answer: Any = await ctx.chat_with_tools(
            messages, tools=TOOLS, output=Summary, max_iterations=ask.max_iterations
        )
    else:
        answer = await ctx.chat_with_tools(messages, tools=TOOLS, max_iterations=ask.max_iterations)
    if ask.fail_first_attempt and ctx.attempt == 1:
        raise ValueError("attempt 1 fails after the loop")
    parsed = answer.parsed.model_dump() if answer.parsed is not None else None
    return {"content": answer.content, "parsed": parsed, "usage": answer.usage.model_dump()}


def _tool_messages(request: dict[str, Any]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in request["messages"] if m["role"] == "tool"}


def _call(call_id: str, name: str, **arguments: Any) -> tuple[str, str, dict[str, Any]]:
    return (call_id, name, arguments)


def _key() -> str:
    return uuid.uuid4().hex


class _ToolLoopSuite(_WithDouble):
    def mesh(self, factory: Factory, settings: Settings) -> TestMesh:
        return TestMesh(planner, orders, kb, transport=factory(), settings=settings)

    async def submit(self, m: TestMesh, run: str, **ask: Any) -> str:
        """A planner task whose question names `run` (`double.calls_with(run)`)."""
        return await m.client.submit("tl-planner", Ask(question=f"about {run}", **ask).model_dump())

    async def wait_steered(self, m: TestMesh, task_id: str) -> None:
        """Until the task's history shows the steer: it is then in the handler's queue."""
        topic = Topics(m.settings.namespace).task_events

        async def steered() -> bool:
            records = await read_all(m.transport, [topic])
            return any(
                r.key == task_id.encode()
                and decode_envelope(r.value or b"").payload["kind"] == "steered"
                for r in records
            )

        await eventually_true(steered, timeout=10, interval=0.05, what="the steered event")


class ToolLoopBehaviour(_ToolLoopSuite):
    async def test_tool_calls_run_as_concurrent_delegations_and_return_to_the_model(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        double.script(
            Reply(
                content=None,
                tool_calls=[
                    _call("c1", "tl-orders", run=run, customer="c-7", wait_for_peer=True),
                    _call("c2", "tl-kb", run=run, query="refunds", wait_for_peer=True),
                    _call("c3", "add", run=run, numbers=[1, 2, 3]),
                ],
            ),
            Reply(content='{"summary": "two tools answered"}', input_tokens=30),
        )
        async with self.mesh(transport_factory, model_settings) as m:
            state = await m.client.wait(await self.submit(m, run, output=True), timeout=30)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.result is not None
        assert state.result["parsed"] == {"summary": "two tools answered"}
        assert state.result["usage"]["input_tokens"] == 10 + 30  # the whole loop's
        assert len(state.children) == 2
        assert double.calls_with(run) == 2
        offered = {t["function"]["name"]: t["function"] for t in double.requests[0]["tools"]}
        assert list(offered) == ["tl-orders", "tl-kb", "add", "flaky"]
        assert offered["tl-orders"]["parameters"] == OrdersQuery.model_json_schema()
        assert offered["tl-orders"]["description"] == "Finds a customer's orders."
        assert offered["add"]["description"] == "Adds numbers."
        second = double.requests[1]["messages"]
        assert [m["role"] for m in second] == [
            "system",
            "user",
            "assistant",
            "tool",
            "tool",
            "tool",
        ]
        assert [c["id"] for c in second[2]["tool_calls"]] == ["c1", "c2", "c3"]
        results = _tool_messages(double.requests[1])
        assert json.loads(results["c1"]) == {"agent": "tl-orders", "run": run}
        assert json.loads(results["c2"]) == {"agent": "tl-kb", "run": run}
        assert json.loads(results["c3"]) == {"total": 6}

    async def test_invalid_arguments_and_unknown_tools_are_answered_to_the_model(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        double.script(
            Reply(
                content=None,
                tool_calls=[
                    _call("c1", "tl-orders", run=run),  # no `customer`
                    _call("c2", "tl-refunds", run=run),
                    _call("c3", "add", run=run, numbers="many"),
                ],
            ),
            Reply(content="I could not look it up."),
        )
        async with self.mesh(transport_factory, model_settings) as m:
            state = await m.client.wait(await self.submit(m, run), timeout=30)
        assert state.result is not None, state.error
        assert state.result["content"] == "I could not look it up."
        assert state.children == [] and RUNS[run, "add"] == 0  # nothing ran
        results = _tool_messages(double.requests[1])
        assert "do not fit its schema (customer: Field required)" in results["c1"]
        assert "there is no tool 'tl-refunds'" in results["c2"]
        assert "'tl-orders'" in results["c2"]  # the tools it may call
        assert "numbers: Input should be a valid list" in results["c3"]

    async def test_the_loop_stops_at_max_iterations_with_a_clear_error(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        again = Reply(content=None, tool_calls=[_call("c1", "tl-refunds")])
        double.script(again, again, Reply(content="never asked"))
        async with self.mesh(transport_factory, model_settings) as m:
            state = await m.client.wait(await self.submit(m, run, max_iterations=2), timeout=30)
        assert state.status is TaskStatus.DEAD_LETTERED  # permanent: a re-run ends the same
        assert state.error is not None
        assert (
            "ToolLoopExhausted is permanent: the model still called tools after 2 model calls"
            in (state.error.message)
        )
        assert double.calls_with(run) == 2

    async def test_the_loop_speaks_the_anthropic_protocol_too(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        double.script(
            Reply(content=None, tool_calls=[_call("t1", "add", run=run, numbers=[4, 5])]),
            Reply(content="nine"),
        )
        update = {"model_endpoint": double.anthropic_url, "model_provider": "anthropic"}
        settings = model_settings.model_copy(update=update)
        async with self.mesh(transport_factory, settings) as m:
            state = await m.client.wait(await self.submit(m, run), timeout=30)
        assert state.result is not None and state.result["content"] == "nine", state.error
        assert [t["name"] for t in double.requests[0]["tools"]][:3] == ["tl-orders", "tl-kb", "add"]
        turns = double.requests[1]["messages"]
        assert turns[1]["content"][0]["type"] == "tool_use"
        result = turns[2]["content"][0]
        assert (result["type"], result["tool_use_id"], result["content"]) == (
            "tool_result",
            "t1",
            '{"total":9}',
        )

    async def test_a_rerun_mid_loop_reattaches_to_the_child_still_running(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        double.script(
            Reply(
                content=None,
                tool_calls=[
                    _call("c1", "tl-orders", run=run, customer="c-1", block=True),
                    _call("c2", "flaky", run=run, numbers=[]),  # attempt 1 fails here
                ],
            ),
            Reply(content="done"),
        )
        async with self.mesh(transport_factory, model_settings) as m:
            task_id = await self.submit(m, run)
            await eventually(lambda: RUNS[run, "flaky"] == 2, timeout=10, what="attempt 2")
            RELEASE[run].set()
            state = await m.client.wait(task_id, timeout=30)
        assert state.status is TaskStatus.SUCCEEDED and state.attempt == 2, state.error
        assert RUNS[run, "tl-orders"] == 1 and len(state.children) == 1  # re-attached
        assert double.calls_with(run) == 2  # the first call replayed, the second made once
        assert _tool_messages(double.requests[1])["c2"] == "steady now"

    async def test_cancelling_the_task_cancels_the_tool_calls_in_flight(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        double.script(
            Reply(
                content=None,
                tool_calls=[
                    _call("c1", "tl-orders", run=run, customer="c-1", block=True),
                    _call("c2", "tl-kb", run=run, query="q", block=True),
                ],
            )
        )
        async with self.mesh(transport_factory, model_settings) as m:
            task_id = await self.submit(m, run)
            await eventually(lambda: len(STARTED[run]) == 2, timeout=10, what="both calls")
            await m.client.cancel(task_id)
            state = await m.client.wait(task_id, timeout=30)
            children = [await m.client.wait(child, timeout=30) for child in state.children]
        assert state.status is TaskStatus.CANCELLED
        assert [c.status for c in children] == [TaskStatus.CANCELLED] * 2
        assert double.calls_with(run) == 1


class ToolLoopJournalBehaviour(_ToolLoopSuite):
    """Exactly once on a re-run: on both transports."""

    async def test_a_steer_joins_the_conversation_and_a_rerun_replays_the_loop(
        self, transport_factory: Factory, model_settings: Settings, double: ModelDouble
    ) -> None:
        run = _key()
        double.script(
            Reply(
                content=None,
                tool_calls=[_call("c1", "tl-orders", run=run, customer="c-1", block=True)],
            ),
            Reply(content="refunds only, as asked"),
        )
        async with self.mesh(transport_factory, model_settings) as m:
            task_id = await self.submit(m, run, fail_first_attempt=True)
            await eventually(lambda: "tl-orders" in STARTED[run], timeout=10, what="the call")
            await m.client.steer(task_id, "only refunds, please")
            await self.wait_steered(m, task_id)
            RELEASE[run].set()
            state = await m.client.wait(task_id, timeout=30)
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.attempt == 2  # attempt 1 failed after its loop
        assert state.result is not None and state.result["content"] == "refunds only, as asked"
        after_tools = double.requests[1]["messages"][-2:]
        assert after_tools[0]["role"] == "tool"
        assert after_tools[1] == {"role": "user", "content": "only refunds, please"}
        # Attempt 2 replayed the calls, the steer and the child: nothing new was paid or run.
        assert double.calls_with(run) == 2
        assert RUNS[run, "tl-orders"] == 1 and len(state.children) == 1
