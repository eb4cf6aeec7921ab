"""Tools for the tool loop (mesh/tools.py) and the loop's checks and steer journal
(mesh/tool_loop.py), without a mesh: the loop end to end is
tests/contract/tool_loop_behaviour.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from mesh import Agent, AgentCard, AgentTool, FunctionTool, SetupError, TaskContext, ToolSpec
from mesh.tool_loop import ToolLoop, _LoopRun
from schemas import REGISTRY
from schemas.tasks import Steer


@REGISTRY.register("test.tools.unit", 1)
class Lookup(BaseModel):
    """What to look up."""

    topic: str
    limit: int = 3


lookup = Agent("unit-lookup", description="Looks things up.")


@lookup.task
async def run_lookup(ctx: TaskContext, query: Lookup) -> dict[str, Any]:
    return {}


def _card(**fields: Any) -> AgentCard:
    return AgentCard(name="unit-lookup", updated_at=datetime.now(UTC), **fields)


def test_an_agent_tool_takes_its_name_description_and_schema_from_the_agent() -> None:
    tool = AgentTool(lookup)
    expected = ToolSpec(
        name="unit-lookup", description="Looks things up.", parameters=Lookup.model_json_schema()
    )
    assert tool.spec == expected and tool.agent == "unit-lookup"
    assert tool.parse({"topic": "refunds"}) == Lookup(topic="refunds")
    renamed = AgentTool(lookup, name="search", description="Searches.")
    assert (renamed.name, renamed.spec.description, renamed.agent) == (
        "search",
        "Searches.",
        "unit-lookup",
    )


def test_an_agent_tool_from_a_card_uses_its_registered_input_model() -> None:
    card = _card(description="From the registry.", task_type="test.tools.unit", task_version=1)
    tool = AgentTool(card)
    assert tool.arguments is Lookup and tool.spec.description == "From the registry."


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: AgentTool(Agent("idle")), "has no task handler"),
        (lambda: AgentTool(_card()), "takes no tasks"),
        (
            lambda: AgentTool(_card(task_type="test.tools.nowhere", task_version=1)),
            "not registered",
        ),
    ],
)
def test_an_agent_that_cannot_be_a_tool_is_a_setup_error(make: Any, says: str) -> None:
    with pytest.raises(SetupError, match=says):
        make()


class Numbers(BaseModel):
    values: list[int]


async def total(numbers: Numbers) -> int:
    """Adds the numbers."""
    return sum(numbers.values)


def test_a_function_tool_takes_its_schema_from_its_argument_model() -> None:
    tool = FunctionTool(total)
    assert tool.spec == ToolSpec(
        name="total", description="Adds the numbers.", parameters=Numbers.model_json_schema()
    )


async def two_arguments(a: Numbers, b: Numbers) -> int:
    return 0


def not_async(numbers: Numbers) -> int:
    return 0


async def untyped(numbers) -> int:  # type: ignore[no-untyped-def]
    return 0


@pytest.mark.parametrize(
    ("fn", "says"),
    [
        (two_arguments, "exactly one argument"),
        (not_async, "async def"),
        (untyped, "pydantic model"),
    ],
)
def test_a_function_that_cannot_be_a_tool_is_a_setup_error(fn: Any, says: str) -> None:
    with pytest.raises(SetupError, match=says):
        FunctionTool(fn)


class FakeContext:
    """What the loop uses of a `TaskContext`: its agent, steps (a dict journal) and steers."""

    def __init__(self, journal: dict[str, Any], *, delegates_to: tuple[str, ...] = ()) -> None:
        self.agent = Agent("unit-caller", delegates_to=delegates_to)
        self.journal = journal
        self.steers: list[Steer] = []

    async def step(self, name: str, fn: Any) -> Any:
        adapter = TypeAdapter(list[Steer])
        if name in self.journal:
            return adapter.validate_python(self.journal[name])
        value = fn()
        self.journal[name] = adapter.dump_python(value, mode="json")
        return value

    def pending_steers(self) -> list[Steer]:
        steers, self.steers = self.steers, []
        return steers


@pytest.mark.parametrize(
    ("tools", "max_iterations", "says"),
    [
        ([AgentTool(lookup)], 5, "not in its delegates_to"),
        ([FunctionTool(total), FunctionTool(total)], 5, "two tools are named 'total'"),
        ([FunctionTool(total)], 0, "max_iterations"),
    ],
)
async def test_a_loop_that_cannot_run_is_a_setup_error_before_any_call(
    tools: list[Any], max_iterations: int, says: str
) -> None:
    loop = ToolLoop(FakeContext({}))  # type: ignore[arg-type]
    with pytest.raises(SetupError, match=says):
        await loop([{"role": "user", "content": "hi"}], tools=tools, max_iterations=max_iterations)


async def test_steers_are_journaled_and_a_redelivered_one_joins_only_once() -> None:
    journal: dict[str, Any] = {}
    first = FakeContext(journal)
    first.steers = [Steer(text="refunds only"), Steer(data={"tone": "short"})]
    taken = await _LoopRun(first, {}, loop=1, replayed=[]).steers(0)  # type: ignore[arg-type]
    assert [m.content for m in taken] == ["refunds only", '{"tone":"short"}']
    # A re-run: iteration 0 replays from the journal, whatever has arrived since; the
    # steers it took, read again from the inbox, do not join a second time.
    again = FakeContext(journal)
    run = _LoopRun(again, {}, loop=1, replayed=[])  # type: ignore[arg-type]
    assert await run.steers(0) == taken
    again.steers = [Steer(text="refunds only"), Steer(text="and be quick")]
    assert [m.content for m in await run.steers(1)] == ["and be quick"]
    assert journal["tool-loop/1/1/steers"] == [{"text": "and be quick", "data": {}}]
