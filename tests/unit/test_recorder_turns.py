"""A task's records keep their order without a lock (ADR 057): writers take turns in
the order they asked, and a writer cancelled while it waits, or just as it was given
the turn, never holds up the others."""

from __future__ import annotations

import asyncio

from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source


def _recorder() -> TaskRecorder:
    publisher = Publisher(MemoryTransport(), Settings(), Source(agent="noop", instance="w1"))
    request = Envelope(type="bench.noop", task_id="t" * 32, payload={})
    return TaskRecorder(publisher, submitted_state(request, "noop"), max_progress=0)


async def test_writers_take_turns_in_order_past_cancelled_ones() -> None:
    recorder = _recorder()
    order: list[str] = []

    async def writer(name: str) -> None:
        await recorder._take_turn()
        order.append(name)
        await asyncio.sleep(0)  # holds the turn across a loop turn
        recorder._end_turn()

    await recorder._take_turn()  # the first writer has the turn
    waiting = {name: asyncio.create_task(writer(name)) for name in "abcd"}
    await asyncio.sleep(0)  # all four wait, in order
    waiting["a"].cancel()  # cancelled while it waits
    recorder._end_turn()  # the turn goes to b (a is skipped)
    waiting["b"].cancel()  # cancelled just as it was handed the turn: passes it on
    await asyncio.gather(*waiting.values(), return_exceptions=True)
    assert order == ["c", "d"]
    assert recorder._waiting is None and not recorder._writing


async def test_a_lone_writer_makes_no_queue() -> None:
    recorder = _recorder()
    await recorder._take_turn()
    assert recorder._writing and recorder._waiting is None
    recorder._end_turn()
    assert not recorder._writing
