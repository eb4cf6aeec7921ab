"""`HeldStarts`: the `started` records held by running handlers, flushed by one timer.

A task's `started` is held (ADR 005): it goes out with the task's next record, or
`start_record_delay` s after its handler began if the handler still runs by then.
Handlers begin in time order, so their due times are in order too: one queue per
runner and one timer for its head serve them all, instead of a `call_later` per task
(a timer handle, a push into the loop's heap of timers, a cancel when the handler
returns and the heap's clean-up of cancelled ones: ~3% of a no-op hop; ADR 057). An
entry whose handler has returned is dropped when its time comes, at most
`start_record_delay` s on; a waiting task holds no timer of its own (ADR 033).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from mesh.runtime._running_task import RunningTask
from mesh.runtime.lifecycle import TaskRecorder

# A timer may fire up to the loop's clock resolution early: entries due this close
# to now are flushed with it rather than waking the loop again at once.
_EARLY = 0.001


class HeldStarts:
    """The runs whose `started` is held, in the order their handlers began."""

    def __init__(self, delay: float, flush: Callable[[RunningTask, TaskRecorder], None]) -> None:
        """`flush(running, recorder)` publishes a run's held records (its handler still
        runs `delay` s after it began)."""
        self._delay = delay
        self._flush = flush
        self._due: deque[tuple[float, RunningTask, TaskRecorder]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def hold(self, running: RunningTask, recorder: TaskRecorder) -> None:
        """`running`'s handler begins now; its `started` is held (`recorder.hold`)."""
        loop = asyncio.get_running_loop()
        at = loop.time() + self._delay
        running.start_held = True
        self._due.append((at, running, recorder))
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_at(at, self._fire)

    @staticmethod
    def release(running: RunningTask) -> None:
        """`running`'s handler returned: its `started` goes out with its outcome."""
        running.start_held = False

    def _fire(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time() + _EARLY
        due = self._due
        while due and due[0][0] <= now:
            _, running, recorder = due.popleft()
            if running.start_held:
                running.start_held = False
                self._flush(running, recorder)
        self._timer = loop.call_at(due[0][0], self._fire) if due else None
