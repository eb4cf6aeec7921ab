"""What a waiting task holds (ADR 049): one runtime frame around its handler, its record
and input laid out small and rebuilt exactly, a state sharing its request's parts, a
recorder holding no lock while idle. Same records, same dead letters as before."""

from __future__ import annotations

import asyncio
import sys

import pytest
from pydantic import BaseModel

from mesh import Agent, TaskContext
from mesh.runtime._compact_models import NO_ITEMS, compact_input
from mesh.runtime._running_task import RunningTask
from mesh.runtime._startup import topics_needed
from mesh.runtime.lifecycle import TaskRecorder, share_parts, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.testing import TestMesh
from mesh.transport.base import Delivery
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source, decode_envelope, header_names
from schemas.envelope import encode_envelope, new_id
from schemas.tasks import EventKind, TaskStatus
from tests.contract.behaviour_agents import Work
from tests.helpers import eventually, read_all

idle = Agent("idle")
holding = asyncio.Event()


@pytest.fixture
def held() -> None:
    """A new `holding` per test: an asyncio.Event binds to the loop that first waits."""
    global holding
    holding = asyncio.Event()


@idle.task
async def wait_for_release(ctx: TaskContext, request: Work) -> dict[str, str]:
    await holding.wait()
    return {"done": ctx.task_id}


def _delivery(request: Envelope, **extra_headers: bytes) -> Delivery:
    assert request.task_id is not None
    headers = {**request.routing_headers(), **extra_headers}
    value = encode_envelope(request)
    return Delivery("inbox", 3, 17, request.task_id.encode(), value, headers, 1.5)


def _running(**extra_headers: bytes) -> tuple[RunningTask, Delivery]:
    task_id = new_id()
    sent = Envelope(type="test.work", task_id=task_id, root_task_id=task_id, payload={})
    record = _delivery(sent, **extra_headers)
    request = decode_envelope(record.value or b"")
    running = RunningTask(request, record, idle.handlers["test.work"])
    running.parse_input()
    return running, record


def test_a_waiting_record_drops_what_its_request_rebuilds_exactly() -> None:
    running, record = _running()
    running.keep_small()
    assert running.raw.key is None and running.raw.value is None  # dropped while it waits
    assert not running.raw.headers
    rebuilt = running.record
    assert rebuilt == record
    assert list(rebuilt.headers.items()) == list(record.headers.items())  # the order too
    assert (running.tp, running.offset) == (record.tp, record.offset)
    assert running.request == decode_envelope(record.value or b"")
    assert running.request.root_task_id is running.request.task_id  # one string


def test_a_record_with_headers_of_its_own_stays_whole() -> None:
    running, record = _running(**{header_names.DLQ_FIRST_FAILURE: b"2026-12-03T07:00:00+00:00"})
    running.keep_small()
    assert running.raw is record and running.record is record


def test_a_record_another_producer_wrote_stays_whole() -> None:
    running, record = _running()
    # A field this process does not know (a newer producer): re-encoding would drop it.
    newer = record.value.replace(b'{"id"', b'{"added_later":1,"id"', 1)  # type: ignore[union-attr]
    running.raw = Delivery(*record_where(record), record.key, newer, record.headers, 1.5)
    running.request = decode_envelope(newer)
    running.keep_small()
    assert running.record.value == newer and running.raw.value == newer


def record_where(record: Delivery) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def test_a_redispatched_run_keeps_the_record_it_was_read_from() -> None:
    running, record = _running()
    running.keep_small()
    newer = running.request.model_copy(update={"id": new_id(), "attempt": 2})
    again = RunningTask(newer, running.record, running.handler)
    again.keep_small()  # its request's headers differ from the record's: kept whole
    assert again.record == record
    assert list(again.record.headers.items()) == list(record.headers.items())


class _Defaults(BaseModel):
    text: str
    count: int = 0


class _Frozen(BaseModel, frozen=True):
    text: str


def test_an_input_laid_out_small_is_the_same_input() -> None:
    given_all = compact_input(_Frozen(text="a"))
    assert given_all == _Frozen(text="a")
    assert given_all.__pydantic_fields_set__ is compact_input(_Frozen(text="b")).model_fields_set
    partial = compact_input(_Defaults(text="a"))
    other = compact_input(_Defaults(text="b"))
    assert partial.model_fields_set == {"text"}
    assert partial.__pydantic_fields_set__ is not other.__pydantic_fields_set__  # not shared
    partial.count = 2  # an assignment marks the field set on this input only
    assert (partial.model_fields_set, other.model_fields_set) == ({"text", "count"}, {"text"})
    assert partial.model_dump(exclude_unset=True) == {"text": "a", "count": 2}


def test_a_waiting_state_shares_its_request_parts_and_one_empty_list() -> None:
    running, _ = _running()
    request = running.request
    fresh = submitted_state(request, "idle")
    shared = share_parts(fresh.model_copy(), request)
    assert shared == fresh
    assert shared.model_dump_json(exclude_none=True) == fresh.model_dump_json(exclude_none=True)
    assert shared.input is request.payload
    assert shared.children is NO_ITEMS and shared.progress is NO_ITEMS
    with pytest.raises(TypeError, match="shared"):
        shared.children.append("x")


async def test_a_recorder_holds_a_lock_only_while_it_writes(memory_settings: Settings) -> None:
    transport = MemoryTransport()
    await transport.ensure_topics(topics_needed(memory_settings, idle))
    publisher = Publisher(transport, memory_settings, Source(agent="idle"))
    running, _ = _running()
    state = submitted_state(running.request, "idle")
    recorder = TaskRecorder(publisher, state, max_progress=5)
    recorder.hold(EventKind.STARTED)
    # Written together, they keep their order: started (held), then resumed.
    await asyncio.gather(recorder.flush(), recorder.record(EventKind.RESUMED))
    assert recorder._waiting is None and not recorder._writing
    events = await read_all(transport, [publisher.topics.task_events])
    kinds = [decode_envelope(r.value or b"").payload["kind"] for r in events]
    assert kinds == ["started", "resumed"]


async def _submitted_and_waiting(mesh: TestMesh) -> str:
    """A task of `idle` whose handler is waiting, on the mesh's one worker."""
    worker = mesh.workers[0]
    task_id = await mesh.client.submit("idle", {"seconds": 0})
    await eventually(
        lambda: (r := worker.running.get(task_id)) is not None and r.context is not None,
        timeout=10,
        what="the handler to wait",
    )
    return task_id


@pytest.mark.usefixtures("held")
async def test_a_waiting_task_holds_one_runtime_frame(memory_settings: Settings) -> None:
    async with TestMesh(idle, settings=memory_settings) as mesh:
        worker = mesh.workers[0]
        task_id = await _submitted_and_waiting(mesh)
        task = worker.running[task_id].task
        assert task is not None and task.get_name() == task_id
        frames, awaited = [], task.get_coro()
        while awaited is not None and hasattr(awaited, "cr_code"):
            frames.append(awaited.cr_code.co_qualname)
            awaited = awaited.cr_await
        assert frames == ["TaskRunner.run", "wait_for_release", "Event.wait"]
        holding.set()
        state = await mesh.client.wait(task_id, timeout=10)
        assert state.status is TaskStatus.SUCCEEDED and state.result == {"done": task_id}


@pytest.mark.usefixtures("held")
async def test_a_task_still_running_after_a_while_is_laid_out_small_once(
    memory_settings: Settings,
) -> None:
    """A task that ends at once is not worth the encode of laying it out small; one
    still running `start_record_delay` s on is, its context then holding the same
    request (a second copy would double what the layout saves; ADR 062)."""
    holding.clear()
    settings = memory_settings.model_copy(update={"start_record_delay": 60.0})
    async with TestMesh(idle, settings=settings) as mesh:
        worker = mesh.workers[0]
        task_id = await _submitted_and_waiting(mesh)
        running = worker.running[task_id]
        assert not running.small and running.raw.value is not None  # not yet: it may end soon
        assert running.request.type is sys.intern("test.work")  # shared already
        assert running.request.root_task_id is running.task_id
        first = running.request
        assert running.context is not None and running.context.request is first
        # What the held `started` timer calls when `start_record_delay` is up.
        worker.runner._flush_started(running, running.context._recorder)
        assert running.small and running.raw.value is None  # dropped, rebuilt when read
        assert running.request is not first and running.request == first
        assert running.context.request is running.request
        running.keep_small()  # once: nothing changes
        assert running.context.request is running.request
        holding.set()
        state = await mesh.client.wait(task_id, timeout=10)
        assert state.status is TaskStatus.SUCCEEDED and state.result == {"done": task_id}
