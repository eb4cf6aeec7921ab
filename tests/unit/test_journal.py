"""The task journal's rules: which requests are duplicates, what a reload restores,
what memory keeps, and that entries are visible before their write is acknowledged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import pytest

from mesh.errors import TransportError
from mesh.runtime.journal import Ended, Journal
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.testing import MemoryTransport
from mesh.topics import Topics, agent_topics
from schemas import Envelope, Source
from schemas.tasks import TaskOutcome, TaskStatus
from tests.doubles import FailingPublishTransport
from tests.helpers import eventually_true


def _request(attempt: int = 1, replay: int = 0) -> Envelope:
    return Envelope(type="test.work", task_id="t1", attempt=attempt, replay=replay)


@pytest.mark.parametrize(
    ("ended", "attempt", "replay", "duplicate"),
    [
        ((1, 0, TaskStatus.SUCCEEDED), 1, 0, True),  # a re-delivery
        ((1, 0, TaskStatus.SUCCEEDED), 2, 0, True),  # nothing runs after a terminal end
        ((1, 0, TaskStatus.RETRYING), 1, 0, True),  # the failed attempt, again
        ((1, 0, TaskStatus.RETRYING), 2, 0, False),  # the retry it scheduled
        ((3, 0, TaskStatus.DEAD_LETTERED), 1, 1, False),  # a replay is a new run
        ((1, 1, TaskStatus.SUCCEEDED), 3, 0, True),  # an old run's retry, after a replay
    ],
)
def test_which_requests_an_ended_run_covers(
    ended: tuple[int, int, TaskStatus], attempt: int, replay: int, duplicate: bool
) -> None:
    record = Ended(ended[0], ended[1], ended[2], at=time.time())
    assert record.covers(_request(attempt, replay)) is duplicate


async def _journal(transport: MemoryTransport, settings: Settings) -> Journal:
    await transport.ensure_topics(agent_topics(settings, "worker"))
    return Journal(Publisher(transport, settings, Source(agent="worker")), "worker")


async def test_a_reload_restores_ended_runs_steps_and_children(memory_settings: Settings) -> None:
    transport = MemoryTransport()
    first = await _journal(transport, memory_settings)
    await first.load([2])
    outcome = TaskOutcome(status=TaskStatus.SUCCEEDED, result={"ok": True})
    await first.record_step(2, "parent", "charge", {"row": 7})
    await first.record_child(2, "parent", "c1", "worker", None)
    await first.record_child(2, "parent", "c1", "worker", outcome)
    await first.record_child(2, "parent", "c1", "worker", None)  # late "started": ignored
    await first.record_ended(2, _request(), TaskStatus.SUCCEEDED)

    second = await _journal(transport, memory_settings)
    await second.load([2])
    entries = second.entries(2, "t1")
    assert entries is not None and entries.ended is not None
    assert second.is_duplicate(2, _request())
    parent = second.entries(2, "parent")
    assert parent is not None
    assert parent.steps == {"charge": {"row": 7}}
    assert parent.children["c1"].outcome == outcome
    assert second.entries(1, "t1") is None  # another partition: not loaded


async def test_a_finished_task_keeps_only_its_ended_record(memory_settings: Settings) -> None:
    journal = await _journal(MemoryTransport(), memory_settings)
    await journal.load([0])
    await journal.record_step(0, "t1", "charge", {"row": 1})
    await journal.record_ended(0, _request(), TaskStatus.RETRYING)
    entries = journal.entries(0, "t1")
    assert entries is not None and entries.steps  # a retry replays them
    await journal.record_ended(0, _request(attempt=2), TaskStatus.SUCCEEDED)
    assert entries.steps == {} and entries.ended is not None


async def test_entries_are_visible_before_the_write_is_awaited(memory_settings: Settings) -> None:
    journal = await _journal(MemoryTransport(), memory_settings)
    await journal.load([0])
    outcome = TaskOutcome(status=TaskStatus.SUCCEEDED)
    write = journal.record_child(0, "parent", "c1", "worker", outcome)
    entries = journal.entries(0, "parent")
    assert entries is not None and entries.children["c1"].outcome == outcome
    await write


async def test_ended_records_expire_after_the_window(memory_settings: Settings) -> None:
    short = memory_settings.model_copy(update={"journal_retention": 0.5})
    transport = MemoryTransport()
    journal = await _journal(transport, short)
    await journal.load([0])
    await journal.record_ended(0, _request(), TaskStatus.SUCCEEDED)

    async def remembered_on_reload() -> bool:
        reloaded = await _journal(transport, short)
        await reloaded.load([0])
        return reloaded.is_duplicate(0, _request())

    async def forgotten_on_reload() -> bool:
        return not await remembered_on_reload()

    assert await remembered_on_reload(), "forgotten within the window"
    await eventually_true(forgotten_on_reload, timeout=5, interval=0.05, what="the expiry")


async def test_a_disabled_journal_writes_and_remembers_nothing(memory_settings: Settings) -> None:
    off = memory_settings.model_copy(update={"journal_enabled": False})
    transport = MemoryTransport()
    journal = await _journal(transport, off)
    await journal.load([0])
    await journal.record_ended(0, _request(), TaskStatus.SUCCEEDED)
    assert not journal.is_duplicate(0, _request())
    assert await transport.read_partitions([]) == []
    assert transport.broker.topics[journal.topic][0] == []


async def test_entries_written_in_one_turn_go_out_in_one_publish(
    memory_settings: Settings,
) -> None:
    """The `ended` records of tasks that end together are one produce (ADR 050): a
    refused publish fails every writer in it, and the next succeeds for them all."""
    specs = agent_topics(memory_settings, "worker")
    transport = FailingPublishTransport(Topics(memory_settings.namespace).journal("worker"))
    transport.failures_left = 1
    await transport.ensure_topics(specs)
    journal = Journal(Publisher(transport, memory_settings, Source(agent="worker")), "worker")
    await journal.load([0])
    ids = ("t1", "t2", "t3")

    def end_all() -> list[Awaitable[None]]:
        return [
            journal.record_ended(0, Envelope(type="test.work", task_id=i), TaskStatus.SUCCEEDED)
            for i in ids
        ]

    refused = await asyncio.gather(*end_all(), return_exceptions=True)
    assert [type(r) for r in refused] == [TransportError] * 3
    assert transport.refused == 1, "three records, one publish"
    await asyncio.gather(*end_all())
    written = transport.broker.topics[journal.topic][0]
    assert [r.key for r in written] == [i.encode() for i in ids]  # in the order written


async def test_a_writer_that_stops_waiting_leaves_its_batch_alone(
    memory_settings: Settings,
) -> None:
    transport = MemoryTransport()
    journal = await _journal(transport, memory_settings)
    await journal.load([0])
    first = journal.record_ended(0, _request(), TaskStatus.SUCCEEDED)
    second = journal.record_ended(0, Envelope(type="test.work", task_id="t2"), TaskStatus.FAILED)
    assert isinstance(first, asyncio.Future)
    first.cancel()  # its task was handed back while it waited
    await second
    written = transport.broker.topics[journal.topic][0]
    assert [r.key for r in written] == [b"t1", b"t2"]
