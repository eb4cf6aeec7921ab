"""`TopicFollower`: a local copy of topics, read from their start without a group.

Every reader sees every record (no consumer group), so reads of the copy are
dictionary lookups. With `from_end`, records published before `start` are skipped
(read past, not applied): a reader of live data only, such as streamed tokens.
`catch_up` waits until what was published before the call has been applied.
Subclasses apply each record in `_on_record` (and may tidy up in `_after_batch`);
waiters use `_changed`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from mesh._background import BackgroundTask
from mesh.errors import TransportError
from mesh.transport.base import Consumer, Delivery, TopicPartition, Transport, unread_ends

log = logging.getLogger(__name__)
_RETRY = 1.0  # seconds between attempts to fetch after a failure


class TopicFollower:
    def __init__(
        self, transport: Transport, topics: Sequence[str], *, name: str, from_end: bool = False
    ) -> None:
        self._consumer: Consumer = transport.consumer(list(topics), group=None)
        self._name = name
        self._from_end = from_end
        self._skip_below: dict[TopicPartition, int] = {}  # with `from_end`: the ends at start
        self._next_offset: dict[TopicPartition, int] = {}
        self._changed = asyncio.Condition()  # notified after each applied batch
        self._follower = BackgroundTask(name, logger=log)

    @property
    def following(self) -> bool:
        """The loop that keeps the copy current is running."""
        return self._follower.running

    async def start(self) -> None:
        await self._consumer.start()
        if self._from_end:
            self._skip_below = await self._consumer.end_offsets()
        self._follower.start(self._follow())

    async def stop(self) -> None:
        await self._follower.stop()
        await self._consumer.stop()

    async def catch_up(self, timeout: float = 30.0) -> None:
        """Wait until everything published before this call has been applied."""
        ends = await unread_ends(self._consumer)
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(
                lambda: all(self._next_offset.get(tp, 0) >= end for tp, end in ends.items())
            )

    async def _follow(self) -> None:
        # Nothing may end this loop but `stop`: a copy that silently stops following
        # would leave every waiter and reader on stale state.
        while True:
            try:
                records = await self._consumer.fetch(timeout=1.0, max_records=1000)
            except TransportError as exc:  # e.g. the broker unreachable: the client reconnects
                log.warning("%s: fetching failed, again in %.0f s: %s", self._name, _RETRY, exc)
                await asyncio.sleep(_RETRY)
                continue
            async with self._changed:
                for record in records:
                    self._next_offset[record.tp] = record.offset + 1
                    if record.offset < self._skip_below.get(record.tp, 0):
                        continue
                    try:
                        self._on_record(record)
                    except Exception:
                        log.exception("%s: skipping %s, which failed", self._name, record.where())
                try:
                    self._after_batch()
                except Exception:
                    log.exception("%s: tidying up after a batch failed", self._name)
                self._changed.notify_all()

    def _on_record(self, record: Delivery) -> None:
        raise NotImplementedError

    def _after_batch(self) -> None:
        """Called after each fetch, even an empty one (so at least once a second)."""
