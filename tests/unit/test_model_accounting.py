"""Accounting's parts (ADR 021): the price table setting, a call's cost, usage lines
summed per agent and model and up a task tree, and the per-task cap in `Chat`."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from mesh import RetryPolicy, SettingsError
from mesh.cli._tasks import print_task
from mesh.errors import ModelCallLimitExceeded
from mesh.models import ChatMessage, ModelAnswer, Usage
from mesh.models.accounting import (
    add_usage,
    call_cost,
    journaled_usage,
    tree_usage,
    usage_total,
)
from mesh.models.base import ModelProvider, ModelTarget
from mesh.models.budgets import ModelBudgets
from mesh.models.calls import Chat
from mesh.models.limits import ModelLimits
from mesh.models.types import ModelRequest
from mesh.prices import ModelPrice
from mesh.retry import GiveUp
from mesh.settings import Settings, load_settings
from mesh.supervision._tracking import apply_event
from schemas.tasks import EventKind, ModelUsage, TaskEvent, TaskState, TaskStatus
from tests.helpers import eventually

# -- the price table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prices", "says"),
    [
        ('{"gpt-4o": {"input": -1, "output": 2}}', "model 'gpt-4o' input: Input should be"),
        ('{"gpt-4o": {"input": 1, "output": 2, "outptu": 3}}', "'outptu' is not a price"),
        ('{"gpt-4o": {"input": 1}}', "model 'gpt-4o' output: Field required"),
        ('["gpt-4o"]', "must be a JSON object"),
    ],
)
def test_a_bad_price_table_names_the_setting_and_the_model(
    prices: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_MODEL_PRICES", prices)
    with pytest.raises(SettingsError, match="MESH_MODEL_PRICES") as caught:
        load_settings()
    assert says in str(caught.value)


def test_prices_and_the_call_cap_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESH_MODEL_PRICES", '{"m": {"input": 0.15, "output": 0.6}}')
    monkeypatch.setenv("MESH_MODEL_MAX_CALLS_PER_TASK", "7")
    settings = load_settings()
    assert settings.model_prices == {"m": ModelPrice(input=0.15, output=0.6)}
    assert settings.model_max_calls_per_task == 7
    assert load_settings(model_max_calls_per_task=100).model_max_calls_per_task == 100
    monkeypatch.setenv("MESH_MODEL_MAX_CALLS_PER_TASK", "0")
    with pytest.raises(SettingsError, match="MESH_MODEL_MAX_CALLS_PER_TASK"):
        load_settings()


def test_a_call_costs_its_tokens_at_the_models_prices() -> None:
    prices = {
        "cheap": ModelPrice(input=1.0, output=4.0),  # cached input at the input price
        "cached": ModelPrice(input=10.0, output=30.0, cached=2.5),
    }
    usage = Usage(input_tokens=2_000_000, output_tokens=500_000, cached_tokens=1_000_000)
    assert call_cost("cheap", usage, prices) == pytest.approx(2.0 + 2.0)
    assert call_cost("cached", usage, prices) == pytest.approx(10.0 + 2.5 + 15.0)
    assert call_cost("unlisted", usage, prices) == 0.0


# -- usage lines ----------------------------------------------------------------------


def _line(agent: str, model: str, calls: int, cost: float = 0.0) -> ModelUsage:
    return ModelUsage(agent=agent, model=model, calls=calls, input_tokens=10 * calls, cost_usd=cost)


def test_lines_add_up_per_agent_and_model() -> None:
    summed = add_usage(
        [_line("a", "m", 1, 0.1), _line("a", "n", 1)], [_line("a", "m", 2, 0.2), _line("b", "m", 1)]
    )
    assert summed == [
        _line("a", "m", 3, 0.3),  # 0.1 + 0.2, with no binary-fraction tail
        _line("a", "n", 1),
        _line("b", "m", 1),
    ]
    total = usage_total(summed)
    assert (total.agent, total.model, total.calls, total.input_tokens) == ("*", "*", 5, 50)
    assert usage_total([]) == ModelUsage(agent="*", model="*")


def test_journaled_usage_counts_each_model_step_once() -> None:
    answer = ModelAnswer[None](
        model="m", usage=Usage(input_tokens=5, output_tokens=2), cost_usd=0.5
    ).model_dump(mode="json")
    steps = {"model/abc/0": answer, "model/abc/1": answer, "charge": {"id": 1}, "model/x": 3}
    (line,) = journaled_usage("a", steps)
    assert (line.calls, line.input_tokens, line.output_tokens, line.cost_usd) == (2, 10, 4, 1.0)
    assert journaled_usage("a", {"charge": 1}) == []


def _state(task_id: str, usage: list[ModelUsage], children: list[str]) -> TaskState:
    now = datetime.now(UTC)
    return TaskState(
        task_id=task_id,
        agent="x",
        type="t",
        status=TaskStatus.RUNNING,
        usage=usage,
        children=children,
        created_at=now,
        updated_at=now,
    )


def test_a_trees_usage_is_its_own_plus_every_descendants() -> None:
    tasks = {
        "root": _state("root", [_line("p", "big", 1)], ["c1", "c2", "unseen"]),
        "c1": _state("c1", [_line("r", "small", 2)], ["g"]),
        "c2": _state("c2", [], []),
        "g": _state("g", [_line("r", "small", 1), _line("p", "big", 1)], []),
        "other": _state("other", [_line("p", "big", 9)], []),
    }
    assert tree_usage(tasks, "root") == [_line("p", "big", 2), _line("r", "small", 3)]
    assert tree_usage(tasks, "c1") == [_line("r", "small", 3), _line("p", "big", 1)]
    assert tree_usage(tasks, "nobody") == []


# -- the cap, in `Chat` ---------------------------------------------------------------


class _Recorder:
    def __init__(self, earlier_calls: int = 0) -> None:
        self.earlier = earlier_calls
        self.lines: list[ModelUsage] = []
        self.waiting = 0  # model_waiting beats

    def model_calls(self) -> int:
        return self.earlier + sum(line.calls for line in self.lines)

    async def record_model_call(self, line: ModelUsage) -> None:
        self.lines.append(line)

    async def model_waiting(self) -> None:
        self.waiting += 1


class _Journal:
    def __init__(self) -> None:
        self.steps: dict[str, Any] = {}

    def step_result(self, name: str) -> tuple[bool, Any]:
        return (name in self.steps, self.steps.get(name))

    async def record_step(self, name: str, value: Any) -> None:
        self.steps[name] = value


class _SlowProvider(ModelProvider):
    """Answers once released: concurrent calls are all in flight together."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.requests = 0

    async def chat(self, request: ModelRequest) -> ModelAnswer[None]:
        self.requests += 1
        await self.release.wait()
        usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
        return ModelAnswer[None](content="ok", model=request.model, usage=usage)

    async def close(self) -> None:
        pass


class _Clients:
    def __init__(self, provider: ModelProvider) -> None:
        self.provider_ = provider
        self.limits = ModelLimits(Settings())  # no MESH_MODEL_LIMITS: nothing waits
        self.budgets = ModelBudgets(Settings())  # no budget applies: no round trip

    def provider(self, target: ModelTarget) -> ModelProvider:
        return self.provider_


def _chat(
    recorder: _Recorder,
    provider: ModelProvider,
    journal: _Journal,
    cap: int,
    keepalive: float = 60.0,
) -> Chat:
    settings = load_settings(
        model_endpoint="http://local/v1",
        model_name="small",
        model_max_calls_per_task=cap,
        model_keepalive=keepalive,
        model_prices={"small": ModelPrice(input=1.0, output=2.0)},
    )
    return Chat(
        "a",
        None,
        settings,
        journal=journal,
        effect=contextlib.nullcontext,
        clients=_Clients(provider),  # type: ignore[arg-type]
        recorder=recorder,
    )


async def test_calls_in_flight_count_toward_the_cap_and_replays_do_not() -> None:
    provider, journal = _SlowProvider(), _Journal()
    recorder = _Recorder(earlier_calls=1)  # an earlier run's call, from the journal
    chat = _chat(recorder, provider, journal, cap=3)
    first = asyncio.create_task(chat([ChatMessage.user("one")]))
    second = asyncio.create_task(chat([ChatMessage.user("two")]))
    await asyncio.sleep(0)  # both are now waiting for their answers
    with pytest.raises(ModelCallLimitExceeded) as caught:
        await chat([ChatMessage.user("three")])
    assert "model call 4 " in str(caught.value)
    assert "MESH_MODEL_MAX_CALLS_PER_TASK=3" in str(caught.value)
    assert (caught.value.calls, caught.value.limit) == (3, 3)
    provider.release.set()
    answers = await asyncio.gather(first, second)
    assert [a.cost_usd for a in answers] == [3.0, 3.0]  # 1M in at $1, 1M out at $2
    assert [line.cost_usd for line in recorder.lines] == [3.0, 3.0]
    rerun = _chat(_Recorder(earlier_calls=3), provider, journal, cap=3)
    assert (await rerun([ChatMessage.user("one")])).cost_usd == 3.0  # replayed, allowed
    assert provider.requests == 2
    decision = RetryPolicy(max_attempts=5).decide(caught.value, attempt=1)
    assert isinstance(decision, GiveUp)  # permanent: never retried


# -- `mesh task` ----------------------------------------------------------------------


def test_mesh_task_shows_its_own_usage_and_its_trees_with_a_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks = {
        "root": _state("root", [_line("planner", "big", 1, 0.25)], ["child"]),
        "child": _state("child", [_line("researcher", "small", 2, 0.5)], []),
    }
    client = SimpleNamespace(view=SimpleNamespace(tasks=tasks))
    print_task(tasks["root"], client)  # type: ignore[arg-type]
    shown = [line.split() for line in capsys.readouterr().out.splitlines()]
    usage = [words[1:] for words in shown if words[0] == "usage"]
    assert usage == [
        ["AGENT", "MODEL", "CALLS", "INPUT", "CACHED", "OUTPUT", "COST", "USD"],
        ["own", "planner", "big", "1", "10", "0", "0", "0.250000"],
        ["tree", "planner", "big", "1", "10", "0", "0", "0.250000"],
        ["tree", "researcher", "small", "2", "20", "0", "0", "0.500000"],
        ["tree", "total", "3", "30", "0", "0", "0.750000"],
    ]
    print_task(tasks["child"], client)  # type: ignore[arg-type]
    assert "own   researcher" in capsys.readouterr().out
    print_task(_state("quiet", [], []), client)  # type: ignore[arg-type]
    assert "usage" not in capsys.readouterr().out  # no model call: no table


def test_a_model_call_is_activity_that_extends_the_supervisors_lease() -> None:
    def event(kind: EventKind, second: int) -> TaskEvent:
        at = datetime(2026, 12, 1, 12, 0, second, tzinfo=UTC)
        return TaskEvent(kind=kind, agent="a", status=TaskStatus.RUNNING, at=at)

    lease = apply_event(None, event(EventKind.SUBMITTED, 0), None)
    lease = apply_event(lease, event(EventKind.STARTED, 1), None)
    lease = apply_event(lease, event(EventKind.MODEL_CALLED, 30), None)
    assert lease is not None
    assert lease.last_activity == event(EventKind.MODEL_CALLED, 30).at.timestamp()
    lease = apply_event(lease, event(EventKind.MODEL_WAITING, 50), None)  # one long call
    assert lease is not None
    assert lease.last_activity == event(EventKind.MODEL_WAITING, 50).at.timestamp()


async def test_a_long_call_beats_model_waiting_until_it_is_answered() -> None:
    recorder, provider = _Recorder(), _SlowProvider()
    chat = _chat(recorder, provider, _Journal(), cap=3, keepalive=0.01)
    call = asyncio.create_task(chat([ChatMessage.user("think long")]))
    await eventually(lambda: recorder.waiting >= 2, timeout=10, what="beats while in flight")
    provider.release.set()
    await call
    beats = recorder.waiting
    await asyncio.sleep(0.05)  # five keepalive intervals after the answer
    assert recorder.waiting == beats  # the beats stopped with the call
    assert len(recorder.lines) == 1
