"""Retry records read before they are due (ADR 007).

A failed task's next attempt waits on a retry tier topic, its due time in a header.
A record read early is held as an uncommitted offset and a timer, not by pausing its
partition: the records behind it (due as soon, or sooner) keep flowing, and a crash
meanwhile leaves the record to be read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from mesh.transport.base import Delivery, TopicPartition
from schemas import Envelope, header_names
from schemas.envelope import utc_now


class DelayedRecords:
    """Retry records waiting for their due time; `release` dispatches one when it is due."""

    def __init__(self, release: Callable[[Delivery, Envelope], None]) -> None:
        self._release = release
        self._timers: dict[tuple[TopicPartition, int], asyncio.TimerHandle] = {}

    def hold_until_due(self, record: Delivery, envelope: Envelope) -> None:
        """Run a retry record at its due time. Until then it is an uncommitted offset
        and a timer, so its tier partition keeps flowing (ADR 007)."""
        try:
            due = datetime.fromisoformat(record.headers[header_names.RETRY_NOT_BEFORE].decode())
        except (KeyError, ValueError):
            due = utc_now()  # no readable due time: run it now rather than never
        wait = (due - utc_now()).total_seconds()
        if wait <= 0:
            self._release(record, envelope)
            return
        self._timers[(record.tp, record.offset)] = asyncio.get_running_loop().call_later(
            wait, self._due, record, envelope
        )

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the records of partitions this worker no longer owns: their next owner
        reads them again."""
        for key in [key for key in self._timers if key[0] in partitions]:
            self._timers.pop(key).cancel()

    def _due(self, record: Delivery, envelope: Envelope) -> None:
        del self._timers[(record.tp, record.offset)]
        self._release(record, envelope)
