"""`ctx.chat(..., stream=True)` on the in-memory transport (ADR 022): deltas reach the
tokens topic while the answer is generated, coalesced; the task's durable events get
the final message; a replay of the journaled call streams nothing new; `mesh task
--follow` prints the tokens as they come."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from mesh import Agent, ModelSpec, RetryPolicy, TaskContext
from mesh.cli._follow import follow_task
from mesh.settings import Settings
from mesh.testing import MemoryTransport, TestMesh
from mesh.topics import Topics
from mesh.views.tokens import TokenFeed
from schemas import REGISTRY
from schemas.tasks import TaskStatus
from tests.contract.token_feed_behaviour import check_the_feed_reads_from_the_end
from tests.helpers import eventually
from tests.model_double import ModelDouble, Reply


@REGISTRY.register("test.model.stream", 1)
class Say(BaseModel):
    topic: str
    fail_first_attempt: bool = False


streamer = Agent(
    "streamer",
    retry=RetryPolicy(max_attempts=2, initial_delay=0.05, max_delay=0.1),
    model=ModelSpec(),
)


@streamer.task
async def _say(ctx: TaskContext, say: Say) -> dict[str, Any]:
    answer = await ctx.chat([{"role": "user", "content": say.topic}], stream=True)
    if say.fail_first_attempt and ctx.attempt == 1:
        raise ValueError("attempt 1 fails after its streamed call")
    return {"content": answer.content, "tokens": answer.usage.output_tokens}


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture
def settings(memory_settings: Settings, double: ModelDouble) -> Settings:
    # The first delta goes out at once; with a long interval the rest coalesce into the
    # last record, so the records are exactly two.
    update = {
        "model_endpoint": double.url,
        "model_name": "small",
        "tokens_flush_interval": 60.0,
        "tokens_flush_chars": 10_000,
    }
    return memory_settings.model_copy(update=update)


@pytest.fixture
async def mesh(settings: Settings) -> AsyncIterator[tuple[TestMesh, TokenFeed]]:
    async with TestMesh(streamer, settings=settings) as m:
        feed = TokenFeed(m.transport, Topics(settings.namespace))
        await feed.start()
        try:
            yield m, feed
        finally:
            await feed.stop()


async def test_deltas_are_published_as_they_come_and_the_answer_is_a_progress_entry(
    mesh: tuple[TestMesh, TokenFeed], double: ModelDouble
) -> None:
    m, feed = mesh
    gate = threading.Event()
    double.script(Reply(content="one two three four five six", pieces=6, gate=gate))
    task_id = await m.client.submit("streamer", Say(topic="numbers").model_dump())
    await eventually(lambda: feed.last_number(task_id) >= 1, timeout=10, what="a first delta")
    assert not (await m.client.get(task_id)).status.is_terminal  # still generating
    gate.set()
    state = await m.client.wait(task_id, timeout=10)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    await eventually(lambda: feed.last_number(task_id) >= 2, timeout=5, what="the last record")
    records = [token.delta for token in feed.after(task_id, 0)]
    assert [(r.seq, r.done) for r in records] == [(0, False), (1, True)]
    assert records[0].text == "one t"  # the first piece (of 6), at once
    assert "".join(r.text for r in records) == records[1].content == "one two three four five six"
    assert {r.message_id for r in records} == {records[0].message_id}
    assert records[0].call.startswith("model/") and records[0].agent == "streamer"
    assert double.requests[0]["stream"] is True
    final = [p for p in state.progress if p.data.get("model_call") == records[0].call]
    assert [p.message for p in final] == ["one two three four five six"]
    assert final[0].data["model"] == "small"


async def test_a_replayed_call_streams_nothing_new(
    mesh: tuple[TestMesh, TokenFeed], double: ModelDouble
) -> None:
    m, feed = mesh
    double.script(Reply(content="said once", pieces=2, output_tokens=9))
    say = Say(topic="replay me", fail_first_attempt=True)
    task_id = await m.client.submit("streamer", say.model_dump())
    state = await m.client.wait(task_id, timeout=10)
    assert state.status is TaskStatus.SUCCEEDED and state.attempt == 2, state.error
    assert state.result == {"content": "said once", "tokens": 9}
    assert double.calls_with("replay me") == 1
    await feed.catch_up()
    records = [token.delta for token in feed.after(task_id, 0)]
    assert [r.done for r in records] == [False, True]  # one message, from attempt 1


class _Terminal(io.StringIO):
    """`mesh task --follow`'s output; opens `gate` once the first piece is printed."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def flush(self) -> None:
        if "one t" in self.getvalue():
            self.gate.set()


async def test_follow_prints_tokens_as_they_come_until_the_task_ends(
    mesh: tuple[TestMesh, TokenFeed], double: ModelDouble
) -> None:
    m, _ = mesh
    gate = threading.Event()
    double.script(Reply(content="one two three four five six", pieces=6, gate=gate))
    task_id = await m.client.submit("streamer", Say(topic="follow me").model_dump())
    out = _Terminal(gate)
    ended = await asyncio.wait_for(follow_task(m.client, task_id, out=out), timeout=20)
    assert ended.status is TaskStatus.SUCCEEDED, ended.error
    lines = out.getvalue().splitlines()
    assert lines[0] == f"task      {task_id}  (streamer)"
    assert "tokens    one two three four five six" in lines  # printed piece by piece
    assert lines[-2:] == [
        "status    succeeded",
        'result    {"content":"one two three four five six","tokens":5}',
    ]
    assert not any(line.startswith("progress") for line in lines)  # not printed twice


async def test_the_token_feed_reads_from_the_end(memory_settings: Settings) -> None:
    transport = MemoryTransport()
    await transport.start()
    try:
        await check_the_feed_reads_from_the_end(transport, memory_settings)
    finally:
        await transport.stop()
