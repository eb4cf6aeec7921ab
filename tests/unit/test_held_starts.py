"""Held `started` records (ADR 005) flushed by one timer per runner (ADR 057): a run
still in its handler when its time comes is flushed, in the order runs began; one
whose handler returned is not; no timer is left once none is due."""

from __future__ import annotations

import asyncio

from mesh.runtime._held_starts import HeldStarts
from mesh.runtime._running_task import RunningTask
from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.base import Delivery
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source
from tests.bench.agents import noop
from tests.helpers import eventually


def _run(n: int) -> tuple[RunningTask, TaskRecorder]:
    publisher = Publisher(MemoryTransport(), Settings(), Source(agent="noop", instance="w1"))
    request = Envelope(type="bench.noop", task_id=f"{n:032x}", payload={})
    raw = Delivery("inbox", 0, n, None, None, {}, 0)
    running = RunningTask(request, raw, noop.handlers["bench.noop"])
    return running, TaskRecorder(publisher, submitted_state(request, "noop"), max_progress=0)


async def test_only_runs_still_in_their_handler_are_flushed_in_order() -> None:
    flushed: list[str] = []
    all_due = asyncio.Event()

    def flush(running: RunningTask, recorder: TaskRecorder) -> None:
        flushed.append(running.task_id)
        if len(flushed) == 2:
            all_due.set()

    held = HeldStarts(0.01, flush)
    runs = [_run(n) for n in range(3)]
    for running, recorder in runs:
        held.hold(running, recorder)
    HeldStarts.release(runs[1][0])  # its handler returned: no `started` of its own
    await asyncio.wait_for(all_due.wait(), timeout=10)
    assert flushed == [runs[0][0].task_id, runs[2][0].task_id]
    assert not any(running.start_held for running, _ in runs)
    assert held._timer is None and not held._due


async def test_a_run_held_after_the_queue_emptied_arms_the_timer_again() -> None:
    flushed = asyncio.Event()
    held = HeldStarts(0.0, lambda running, recorder: flushed.set())
    first, later = _run(1), _run(2)
    held.hold(*first)
    HeldStarts.release(first[0])
    # The first entry comes due and is dropped: no timer is left armed.
    await eventually(lambda: held._timer is None, timeout=10, what="the queue to empty")
    held.hold(*later)
    await asyncio.wait_for(flushed.wait(), timeout=10)
