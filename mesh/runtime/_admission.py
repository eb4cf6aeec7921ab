"""Admission: which accepted tasks run now, and which wait in the backlog.

A worker runs at most `max_inflight` tasks of its agent type at once, and starts none
while its agent type is paused (mesh/runtime/_pause.py) or its circuit is open (one
probe at a time while it is half-open; mesh/runtime/_circuit.py). Accepted tasks
beyond that wait in the backlog as plain records, not as coroutines queued on a
semaphore (3.11's Semaphore scans its waiters): a heap, highest `priority` first,
then in arrival order. A task still waiting after `start_record_delay` says why in
its state (`held`); a short wait writes nothing.

A run that ends gives its slot to the backlog. A run whose outcome the broker did not
take is admitted again after a pause, at most `MESH_WRITE_ATTEMPTS` times; one whose
outcome cannot be recorded at all (a bug) is dead-lettered.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import heapq
import itertools
import logging

from mesh.dlq.write import Failure, dead_letter
from mesh.errors import TransportError
from mesh.runtime._circuit import CircuitWatch
from mesh.runtime._offsets import OffsetTracker
from mesh.runtime._pause import PauseSwitch
from mesh.runtime._record_writes import RecordWrites
from mesh.runtime._runner import TaskRunner
from mesh.runtime._running_task import RunningTask
from mesh.runtime.journal import Journal
from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.base import TopicPartition
from schemas.tasks import EventKind, TaskError, TaskStatus

log = logging.getLogger(__name__)


class Admission:
    """The tasks a worker has accepted: `running` holds them all, started or waiting."""

    def __init__(
        self,
        agent: str,
        *,
        max_inflight: int,
        settings: Settings,
        runner: TaskRunner,
        publisher: Publisher,
        journal: Journal,
        circuit: CircuitWatch,
        pause: PauseSwitch,
        tracker: OffsetTracker,
        writes: RecordWrites,
        stopping: asyncio.Event,
    ) -> None:
        self._agent = agent
        self.max_inflight = max_inflight
        self._settings = settings
        self._runner = runner
        self._publisher = publisher
        self._journal = journal
        self._circuit = circuit
        self._pause = pause
        pause.on_release = self.start_from_backlog  # resumed: the backlog starts
        self._tracker = tracker
        self._writes = writes
        self._stopping = stopping
        self.running: dict[str, RunningTask] = {}  # accepted: started or in the backlog
        self.active = 0  # started and not ended
        self._backlog: list[tuple[int, int, RunningTask]] = []
        # Backlog tasks whose state does not say yet why they wait, oldest first.
        self._held_unreported: collections.deque[RunningTask] = collections.deque()
        self._arrivals = itertools.count()
        self._probe: RunningTask | None = None

    @property
    def waiting(self) -> int:
        """Accepted tasks not started yet: the backlog."""
        return len(self.running) - self.active

    def accept(self, running: RunningTask) -> None:
        """Start the task, or keep it in the backlog until a slot is free and the
        circuit lets it start. Invalid input starts at once, whatever the circuit or
        the slots: it is dead-lettered (the sender's fault) without counting against
        the agent type's health, and it never becomes a half-open circuit's probe."""
        self.running[running.task_id] = running
        invalid_now = running.invalid is not None and not self._stopping.is_set()
        if invalid_now or self._may_start():
            # Laid out small only if it still runs after a while (ADR 062); what the
            # handler and state take from the request, now.
            running.share_parts()
            self.start(running)
        else:
            running.keep_small()  # it waits in memory
            order = (-running.request.priority, next(self._arrivals), running)
            heapq.heappush(self._backlog, order)
            running.held_since = asyncio.get_running_loop().time()
            self._held_unreported.append(running)

    def start(self, running: RunningTask) -> None:
        if self._circuit.name == "half_open" and running.invalid is None:
            self._probe = running
        self.active += 1
        # Named by the task id itself: no string of its own per task.
        running.task = asyncio.create_task(self._runner.run(running, self), name=running.task_id)

    def start_from_backlog(self) -> None:
        while self._backlog and self._may_start():
            _, _, running = heapq.heappop(self._backlog)
            if not running.handed_back and running.task is None:
                self.start(running)

    def hand_back(self, partitions: set[TopicPartition]) -> None:
        """Stop the tasks of partitions this worker no longer owns; their next owner
        runs them."""
        for running in list(self.running.values()):
            if running.tp in partitions:
                running.hand_back()
                del self.running[running.task_id]

    def _may_start(self) -> bool:
        """A slot is free, the type is not paused and the circuit lets a task start
        (mesh/runtime/_circuit.py)."""
        if self.active >= self.max_inflight or self._stopping.is_set() or self._pause.holds:
            return False
        circuit = self._circuit.name
        if circuit == "half_open":  # one probe at a time
            return self._probe is None or self._probe.task is None or self._probe.task.done()
        return circuit == "closed"

    # -- how runs end (the runner tells; mesh/runtime/_runner.py) -------------------------

    def run_failed(self, running: RunningTask, exc: Exception) -> None:
        if isinstance(exc, TransportError):
            self._outcome_not_written(running, exc)
        else:  # a bug no re-run can fix: park the task, say why
            running.handed_back = True
            self._dead_letter_unrecordable(running, exc)

    def run_ended(self, running: RunningTask) -> None:
        self.active -= 1
        if self.running.get(running.task_id) is running:
            del self.running[running.task_id]
        if not running.handed_back:
            self._tracker.finish(running.tp, running.offset)
        self.start_from_backlog()

    # -- tasks held in the backlog ----------------------------------------------------

    def report_held(self) -> None:
        """Backlog tasks still waiting after `start_record_delay` say why in their
        state (`held`, and a `held` event): a short wait writes nothing."""
        now = asyncio.get_running_loop().time()
        waiting = self._held_unreported
        while waiting and now - waiting[0].held_since >= self._settings.start_record_delay:
            running = waiting.popleft()
            if running.task is None and self.running.get(running.task_id) is running:
                why = self._held_reason()
                self._writes.spawn(
                    functools.partial(self._record_held, running, why), what="task_record"
                )

    def _held_reason(self) -> str:
        name, circuit = self._agent, self._circuit
        if self._pause.paused:
            why = f" ({self._pause.reason})" if self._pause.reason else ""
            return f"agent {name!r} is paused{why}; it starts once `mesh agents resume {name}` runs"
        if self._pause.holds:
            return f"the worker is starting: it reads whether {name!r} is paused first"
        if circuit.name == "open":
            why = circuit.state.reason if circuit.state else ""
            return f"the circuit of {name!r} is open ({why}); it starts once the circuit closes"
        if circuit.name == "half_open":
            return f"the circuit of {name!r} is half-open: one probe task runs at a time"
        return (
            f"waiting for a free slot: a worker runs at most {self.max_inflight} tasks "
            f"of {name!r} at once (max_inflight)"
        )

    async def _record_held(self, running: RunningTask, why: str) -> None:
        if running.task is not None or running.handed_back:
            return  # it started (or moved) meanwhile: its own records say so
        recorder = TaskRecorder(self._publisher, self._runner.first_state(running), max_progress=0)
        await recorder.record(EventKind.HELD, held=why)

    # -- runs whose outcome was not recorded ---------------------------------------------

    def _outcome_not_written(self, running: RunningTask, exc: TransportError) -> None:
        """The broker is unreachable or refused the outcome. The offset stays in
        flight and the run starts again after a pause (the journal replays what it
        completed; nothing past the unrecorded outcome is committed), at most
        `MESH_WRITE_ATTEMPTS` times: then the worker stops (mesh/runtime/_background_writes.py)."""
        running.handed_back = True
        tries = running.outcome_failures + 1
        if tries >= self._settings.write_attempts:
            self._writes.background.fail(
                f"recording the outcome of task {running.task_id} failed", exc, "outcome"
            )
            return
        pause = self._settings.write_backoff * 2 ** (tries - 1)
        log.warning(
            "recording the outcome of task %s failed (try %d of %d); running it again in "
            "%.1f s: %s",
            running.task_id,
            tries,
            self._settings.write_attempts,
            pause,
            exc,
        )
        asyncio.get_running_loop().call_later(pause, self._run_again, running, tries)

    def _run_again(self, failed: RunningTask, failures: int) -> None:
        if self._stopping.is_set() or failed.tp not in self._tracker.partitions():
            return  # stopping, or the partition moved: its next owner runs the task
        if failed.task_id not in self.running:
            again = RunningTask(failed.request, failed.record, failed.handler)
            again.outcome_failures = failures
            self.accept(again)

    def _dead_letter_unrecordable(self, running: RunningTask, exc: Exception) -> None:
        """Running or recording the task raised something other than a broker error:
        a bug in the runtime or in what the handler returned. Re-running it would fail
        the same way forever, so the task is dead-lettered with the reason (and the
        worker goes on; if even that cannot be written, it stops)."""
        log.error("task %s cannot be recorded; dead-lettering it", running.task_id, exc_info=exc)
        self._writes.background.count("outcome")
        reason = f"the runtime could not record this task's outcome: {type(exc).__name__}: {exc}"
        failure = Failure(reason[:2000], exc, running.request.attempt)
        recorder = TaskRecorder(
            self._publisher, submitted_state(running.request, self._agent), max_progress=0
        )

        async def park() -> None:
            await dead_letter(self._publisher, self._agent, running.record, failure)
            error = TaskError(type="DeadLettered", message=failure.reason)
            await recorder.record(EventKind.DEAD_LETTERED, error=error)
            await self._journal.record_ended(
                running.raw.partition, running.request, TaskStatus.DEAD_LETTERED
            )

        self._writes.spawn(park, running.record, what="dead_letter")
