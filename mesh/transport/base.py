"""Transport interface: publish, consume in a group (or read a whole topic), commit.

Broker client types never cross this seam; adapters translate to these records.
Semantics every adapter must keep (checked by `tests/contract`):

- `publish` returns once the record is durably accepted (acks), and records with
  the same key land on the same partition, in publish order.
- A consumer with a `group` shares partitions with the other members of that group;
  a new member triggers a rebalance that calls the listener's `on_revoked` before
  `on_assigned`. A newly assigned partition starts at the group's committed offset,
  or at the beginning when none was committed.
- A consumer without a group reads every partition of its topics from the start.
- `commit` stores "the next offset to read" per partition, for partitions the member
  owns at that moment.
- A group consumer's partitions are *co-partitioned*: partition N of every subscribed
  topic with the same partition count goes to the same member (range assignment), so
  one worker owns a task's inbox, retry and journal partitions together.
- `read_partitions` returns what the given partitions hold when it is called, from
  each one's log start (records before it expired or were deleted).

Errors: every method that talks to the broker raises `TransportError` (or a subclass)
and nothing else of the broker client's; an adapter maps its client's errors at this
seam, so callers catch `TransportError`, never `Exception`.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] = field(default_factory=dict)
    timestamp: float = 0.0

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)

    def where(self) -> str:
        """`topic[partition]@offset`, for logs and dead-letter provenance."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False
    retention: float | None = None  # seconds; None keeps the cluster default
    replication_factor: int = 1


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Mapping[str, bytes] = field(default_factory=dict)
    partition: int | None = None  # None: chosen from the key, as Kafka's partitioner does


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """Where a partition's log starts and ends, and where a group has committed in it."""

    tp: TopicPartition
    start: int  # the first offset still held
    end: int  # the offset after the last record
    committed: int | None = None  # the group's next offset to read; None: none committed

    @property
    def lag(self) -> int:
        """Records the group has not committed (all held ones when it committed none)."""
        done = self.start if self.committed is None else max(self.committed, self.start)
        return max(self.end - done, 0)

    @property
    def held(self) -> int:
        return self.end - self.start


class RebalanceListener(Protocol):
    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None: ...

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None: ...


class Consumer(ABC):
    @abstractmethod
    async def start(self) -> None:
        """Connect and join the group (if any). Raises `TransportError`, or
        `UnknownTopic` for a topic that does not exist."""

    @abstractmethod
    async def stop(self) -> None:
        """Leave the group (if any) without committing anything more."""

    @abstractmethod
    async def fetch(self, *, timeout: float, max_records: int) -> list[Delivery]:
        """Up to `max_records` records from unpaused partitions; [] after `timeout` s.
        Raises `TransportError` when the broker fails the fetch."""

    @abstractmethod
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Raises `TransportError`: the broker refused (e.g. a partition no longer
        owned after a rebalance) or could not be reached."""

    @abstractmethod
    def pause(self) -> None:
        """Stop returning records (group membership and heartbeats go on)."""

    @abstractmethod
    def resume(self) -> None: ...

    @abstractmethod
    def assignment(self) -> frozenset[TopicPartition]: ...

    @abstractmethod
    async def start_offsets(self) -> dict[TopicPartition, int]:
        """The first offset still held of every assigned partition (records before it
        expired or were deleted). Raises `TransportError`."""

    @abstractmethod
    async def end_offsets(self) -> dict[TopicPartition, int]:
        """The offset after the last record of every assigned partition. Raises
        `TransportError`."""


class Transport(ABC):
    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        """Create missing topics; existing ones are left as they are. Raises
        `TransportError`."""

    @abstractmethod
    async def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Append one record and wait until the broker has accepted it. Raises
        `TransportError` (`UnknownTopic` for a topic never created)."""

    async def publish_many(self, records: Sequence[Outgoing]) -> None:
        """Publish several records at once and wait until all are accepted.

        Adapters override this to hand every record to the client before waiting, so
        they share produce requests. Per-key order is kept as in `records`.
        """
        for record in records:
            await self.publish(record.topic, record.value, key=record.key, headers=record.headers)

    @abstractmethod
    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str | None,
        listener: RebalanceListener | None = None,
    ) -> Consumer: ...

    @abstractmethod
    async def offsets(
        self, topics: Sequence[str], *, group: str | None = None
    ) -> list[PartitionOffsets]:
        """Start, end and (with `group`) committed offsets of every partition of
        `topics`, read without joining the group; missing topics are left out. Raises
        `TransportError`."""

    @abstractmethod
    async def read_partitions(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 60.0
    ) -> list[Delivery]:
        """Every record of `partitions`, from each log start to the end offsets at
        the call. Raises `TransportError` when that takes over `timeout` s (never
        hangs) or the broker fails the read."""

    async def read_topics(self, topics: Sequence[str], *, timeout: float = 60.0) -> list[Delivery]:
        """Every record of `topics`, from the start to the end offsets at the call (a
        reader without a group)."""
        consumer = self.consumer(topics, group=None)
        await consumer.start()
        try:
            ends = await unread_ends(consumer)
            position: dict[TopicPartition, int] = {}
            records: list[Delivery] = []
            async with asyncio.timeout(timeout):
                while any(position.get(tp, 0) < end for tp, end in ends.items()):
                    for record in await consumer.fetch(timeout=0.5, max_records=5000):
                        records.append(record)
                        position[record.tp] = record.offset + 1
            return records
        finally:
            await consumer.stop()


async def unread_ends(consumer: Consumer) -> dict[TopicPartition, int]:
    """The end offsets of the assigned partitions that hold records: a reader that
    waits to pass each end must not wait on a partition whose records all expired or
    were compacted away (start = end > 0: no record will ever come)."""
    starts = await consumer.start_offsets()
    return {tp: end for tp, end in (await consumer.end_offsets()).items() if end > starts[tp]}
