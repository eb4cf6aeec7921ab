"""Child outcomes, routed back to the parents waiting for them.

A delegated child replies to its parent's inbox, keyed by the parent's task id, so
the outcome lands on the partition (and the worker) that holds the parent. There it
resolves the parent's `TaskHandle`, and goes into the journal: a re-run of the parent
(after a crash, a rebalance or a retry) re-attaches to the ended child instead of
starting it again or waiting for an outcome that was already read.
"""

from __future__ import annotations

import asyncio
import functools

from pydantic import ValidationError

from mesh.errors import first_line
from mesh.runtime._background_writes import first_then
from mesh.runtime._offsets import OffsetTracker
from mesh.runtime._record_writes import RecordWrites
from mesh.runtime.journal import Journal
from mesh.transport.base import Delivery
from schemas import Envelope
from schemas.tasks import TaskOutcome


class ChildOutcomes:
    """The outcomes of children this worker's tasks wait for (a `ChildWaiter`)."""

    def __init__(self, journal: Journal, tracker: OffsetTracker, writes: RecordWrites) -> None:
        self._journal = journal
        self._tracker = tracker
        self._writes = writes
        self._waiting: dict[str, asyncio.Future[TaskOutcome]] = {}

    def expect_child(self, task_id: str) -> asyncio.Future[TaskOutcome]:
        future = self._waiting.get(task_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[task_id] = future
        return future

    def deliver(self, record: Delivery, envelope: Envelope) -> None:
        """Hand a child's outcome to its waiting parent and journal it for a re-run of
        the parent; the record's offset is finished once the journal has it."""
        try:
            outcome = TaskOutcome.model_validate(envelope.payload)
        except ValidationError as exc:
            self._writes.dead_letter(record, f"unreadable child result: {first_line(exc)}")
            return
        child_id = envelope.task_id or ""
        waiting = self._waiting.pop(child_id, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(outcome)
        parent = envelope.parent_task_id
        if parent is None or not self._journal.enabled:
            self._tracker.finish(record.tp, record.offset)
            return
        agent = envelope.source.agent if envelope.source else ""
        journal = functools.partial(
            self._journal.record_child, record.partition, parent, child_id, agent, outcome
        )
        # Called now, not in the background: the journal holds the outcome in memory at
        # once, so a re-run of the parent that starts before the write is acknowledged
        # (its request may be in the same fetch) re-attaches to it instead of waiting
        # for a result that was already read.
        self._writes.spawn(first_then(journal(), journal), record, what="child_outcome")
