"""`TopicFollower`: a local copy of topics, read from their start without a group.

Every reader sees every record (no consumer group), so reads of the copy are
dictionary lookups. With `from_end`, records published before `start` are skipped
(read past, not applied): a reader of live data only, such as streamed tokens.
`catch_up` waits until what was published before the call has been applied.
Subclasses apply each record in `_on_record` (and may tidy up in `_after_batch`);
waiters use `_changed`.

`SharedFollowers` reads several followers' topics through one consumer: a process
that follows a few small control topics (a worker's circuit and pause switch) sends
one fetch where it sent one per follower (ADR 048), and the gateway reads its task
view, token feed and LangGraph threads so (ADR 053).
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


async def _fetch(consumer: Consumer, name: str) -> list[Delivery]:
    """The next records, or none after a failed fetch (logged, then a pause): a follow
    loop goes on through a broker away for a moment."""
    try:
        return await consumer.fetch(timeout=1.0, max_records=1000)
    except TransportError as exc:  # e.g. the broker unreachable: the client reconnects
        log.warning("%s: fetching failed, again in %.0f s: %s", name, _RETRY, exc)
        await asyncio.sleep(_RETRY)
        return []


class TopicFollower:
    def __init__(
        self, transport: Transport, topics: Sequence[str], *, name: str, from_end: bool = False
    ) -> None:
        self._transport = transport
        self.followed_topics = tuple(topics)
        self._own_consumer: Consumer | None = None  # made at first use: none when shared
        self._reading: Consumer | None = None  # its own consumer, or a `SharedFollowers`'
        self._name = name
        self._from_end = from_end
        self._skip_below: dict[TopicPartition, int] = {}  # with `from_end`: the ends at start
        self._next_offset: dict[TopicPartition, int] = {}
        self._changed = asyncio.Condition()  # notified after each applied batch
        self._follower = BackgroundTask(name, logger=log)
        self._shared_by: SharedFollowers | None = None  # the reader of a shared member

    @property
    def _consumer(self) -> Consumer:
        """The follower's own consumer (a `SharedFollowers` member never makes one)."""
        if self._own_consumer is None:
            self._own_consumer = self._transport.consumer(list(self.followed_topics), group=None)
        return self._own_consumer

    @property
    def following(self) -> bool:
        """The loop that keeps the copy current is running."""
        return self._follower.running

    async def start(self) -> None:
        """Read the topics through a consumer of its own; a `SharedFollowers` member is
        read through that one's consumer, so here it only checks that it is."""
        if self._shared_by is not None:
            if self._reading is None:
                raise RuntimeError(f"{self._name} is read by {self._shared_by.name}: start that")
            return
        await self._consumer.start()
        await self._attach(self._consumer)
        self._follower.start(self._follow())

    async def stop(self) -> None:
        """Stop following (a shared member: with every follower of its reader)."""
        await self._follower.stop()
        if self._own_consumer is not None:
            await self._own_consumer.stop()

    async def catch_up(self, timeout: float = 30.0) -> None:
        """Wait until everything published before this call has been applied."""
        if self._reading is None:
            raise RuntimeError(f"{self._name}: catch_up before start")
        ends = {tp: end for tp, end in (await unread_ends(self._reading)).items() if self._owns(tp)}
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(
                lambda: all(self._next_offset.get(tp, 0) >= end for tp, end in ends.items())
            )

    def _owns(self, tp: TopicPartition) -> bool:
        return tp.topic in self.followed_topics

    async def _attach(self, consumer: Consumer) -> None:
        """Read through `consumer` (started, assigned every partition of our topics)."""
        self._reading = consumer
        if self._from_end:
            ends = await consumer.end_offsets()
            self._skip_below = {tp: end for tp, end in ends.items() if self._owns(tp)}

    async def _follow(self) -> None:
        # Nothing may end this loop but `stop`: a copy that silently stops following
        # would leave every waiter and reader on stale state.
        while True:
            await self._apply_fetched(await _fetch(self._consumer, self._name))

    async def _apply_fetched(self, records: Sequence[Delivery]) -> None:
        """Apply one fetch's records (of our topics), then wake the waiters."""
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


class SharedFollowers:
    """Followers whose topics are read through one consumer, started and stopped
    together: `start` assigns the consumer every partition of their topics, and each
    fetch's records go to the follower of their topic. Start the followers this way,
    not on their own; each still answers `catch_up`, `following` and its readers."""

    def __init__(
        self, transport: Transport, followers: Sequence[TopicFollower], *, name: str
    ) -> None:
        self._followers = list(followers)
        self._transport = transport
        self.name = name
        for follower in self._followers:
            follower._shared_by = self  # its own `start` makes no consumer now
        self._consumer: Consumer | None = None
        self._loop = BackgroundTask(name, logger=log)

    async def start(self) -> None:
        topics = dict.fromkeys(t for follower in self._followers for t in follower.followed_topics)
        self._consumer = consumer = self._transport.consumer(list(topics), group=None)
        await consumer.start()
        for follower in self._followers:
            await follower._attach(consumer)
            follower._follower = self._loop  # `following` is this loop's state
        self._loop.start(self._follow(consumer))

    async def stop(self) -> None:
        await self._loop.stop()
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, consumer: Consumer) -> None:
        while True:  # as `TopicFollower._follow`: nothing but `stop` ends it
            records = await _fetch(consumer, self.name)
            for follower in self._followers:
                await follower._apply_fetched([r for r in records if follower._owns(r.tp)])
