"""Background writes made for a consumed record, and the commits that wait on them.

Much of what a worker does with a record ends in a write off the consume loop (a
dead letter, an adopted event, a child's outcome in the journal;
mesh/runtime/_background_writes.py).
The record's offset stays in flight until that write succeeded, so a crash before it
re-reads the record instead of losing the write (ADR 016).
"""

from __future__ import annotations

import functools

from mesh.dlq.write import Failure, dead_letter
from mesh.runtime._background_writes import BackgroundWrites, Write
from mesh.runtime._offsets import OffsetTracker
from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery


class RecordWrites:
    """A worker's background writes, each finishing its record's offset once it succeeded."""

    def __init__(
        self, background: BackgroundWrites, tracker: OffsetTracker, publisher: Publisher, agent: str
    ) -> None:
        self.background = background
        self._tracker = tracker
        self._publisher = publisher
        self._agent = agent

    def spawn(self, work: Write, record: Delivery | None = None, *, what: str) -> None:
        """Write in the background (mesh/runtime/_background_writes.py); `record`'s offset
        is finished once the write succeeded."""
        where = record.where() if record else "a running task"
        done = (
            None
            if record is None
            else functools.partial(self._tracker.finish, record.tp, record.offset)
        )
        self.background.spawn(work, what=what, where=where, done=done)

    def dead_letter(self, record: Delivery, reason: str) -> None:
        """Park a record that cannot become a task (undecodable, unknown, oversized)."""
        failure = Failure(reason)
        self.spawn(
            lambda: dead_letter(self._publisher, self._agent, record, failure),
            record,
            what="dead_letter",
        )
