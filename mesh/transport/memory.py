"""In-process transport: a faithful stand-in for Kafka in unit tests.

It keeps Kafka's observable behaviour (key -> partition, per-partition order,
consumer groups with eager rebalances that revoke everything and then assign the
new split, positions reset to the committed offset after a rebalance, commits
refused for partitions a member no longer owns, a log start offset that moves
when records expire or are deleted), so the same contract suite passes on it and
on a real broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mesh.errors import TransportError, UnknownTopic
from mesh.transport.base import (
    Consumer,
    Delivery,
    Outgoing,
    PartitionOffsets,
    RebalanceListener,
    TopicPartition,
    TopicSpec,
    Transport,
)

_DELETED = Delivery("", 0, -1, None, None)  # stands where a deleted record was


@dataclass
class _Group:
    members: list[MemoryConsumer] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class MemoryBroker:
    """Shared log storage; several `MemoryTransport` clients may connect to one."""

    def __init__(self) -> None:
        self.topics: dict[str, list[list[Delivery]]] = {}
        self.specs: dict[str, TopicSpec] = {}
        # The first offset still held per partition (0 unless records were deleted).
        self.log_start: dict[TopicPartition, int] = {}
        self.groups: dict[str, _Group] = {}
        self._new_data = asyncio.Event()
        self._round_robin = itertools.count()

    def create(self, spec: TopicSpec) -> None:
        if spec.name not in self.topics:
            self.topics[spec.name] = [[] for _ in range(spec.partitions)]
            self.specs[spec.name] = spec

    def append(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: Mapping[str, bytes],
        partition: int | None = None,
    ) -> None:
        partitions = self.topics.get(topic)
        if partitions is None:
            raise UnknownTopic(f"topic {topic!r} does not exist; create it with ensure_topics")
        if partition is not None and not 0 <= partition < len(partitions):
            raise TransportError(f"topic {topic!r} has no partition {partition}")
        if partition is not None:
            index = partition
        elif key is not None:
            index = zlib.crc32(key) % len(partitions)
        else:
            index = next(self._round_robin) % len(partitions)
        log = partitions[index]
        log.append(Delivery(topic, index, len(log), key, value, dict(headers), time.time()))
        self._new_data.set()
        self._new_data = asyncio.Event()

    async def wait_for_data(self, timeout: float) -> None:
        event = self._new_data
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` loses a cancel that
        # arrives as the event is set, and a cancelled reader (TaskView.stop) never ends.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()

    def delete_records(self, tp: TopicPartition, before: int) -> None:
        """Drop the records of `tp` below offset `before`, as retention, compaction
        or Kafka's DeleteRecords do: the log start moves, offsets do not."""
        log = self.topics[tp.topic][tp.partition]
        start = min(max(before, self.start_of(tp)), len(log))
        self.log_start[tp] = start
        for offset in range(start):
            log[offset] = _DELETED

    def start_of(self, tp: TopicPartition) -> int:
        return self.log_start.get(tp, 0)

    def held(self, tp: TopicPartition) -> list[Delivery]:
        """The records of `tp` from its log start."""
        return self.topics[tp.topic][tp.partition][self.start_of(tp) :]

    def partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        return [
            TopicPartition(topic, index)
            for topic in topics
            for index in range(len(self.topics.get(topic, ())))
        ]

    def group(self, name: str) -> _Group:
        return self.groups.setdefault(name, _Group())


class MemoryConsumer(Consumer):
    _ids = itertools.count()

    def __init__(
        self,
        broker: MemoryBroker,
        topics: Sequence[str],
        group: str | None,
        listener: RebalanceListener | None,
    ) -> None:
        self._broker = broker
        self._topics = list(topics)
        self._group_name = group
        self._listener = listener
        self._assignment: frozenset[TopicPartition] = frozenset()
        self._positions: dict[TopicPartition, int] = {}
        self._paused = False
        self._member_id = next(self._ids)

    async def start(self) -> None:
        missing = [t for t in self._topics if t not in self._broker.topics]
        if missing:
            raise UnknownTopic(f"cannot consume missing topics {missing!r}")
        if self._group_name is None:
            self._assignment = frozenset(self._broker.partitions_of(self._topics))
            self._positions = dict.fromkeys(self._assignment, 0)
            return
        group = self._broker.group(self._group_name)
        group.members.append(self)
        await _rebalance(self._broker, group)

    async def stop(self) -> None:
        if self._group_name is None:
            return
        group = self._broker.group(self._group_name)
        if self in group.members:
            group.members.remove(self)
            self._assignment = frozenset()  # leaving calls no listener (Kafka's LeaveGroup)
            await _rebalance(self._broker, group)

    async def _revoke(self) -> None:
        # Like Kafka before every (re)join: the listener hears it even when nothing is
        # revoked (a first join), and while the partitions are still owned, so a commit
        # from `on_revoked` is accepted.
        if self._listener is not None:
            await self._listener.on_revoked(self._assignment)
        self._assignment = frozenset()

    async def _assign(self, partitions: frozenset[TopicPartition], group: _Group) -> None:
        self._assignment = partitions
        self._positions = {tp: group.committed.get(tp, 0) for tp in partitions}
        if self._listener is not None:
            await self._listener.on_assigned(partitions)

    async def fetch(self, *, timeout: float, max_records: int) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            records = self._take(max_records)
            remaining = deadline - time.monotonic()
            if records or remaining <= 0:
                return records
            await self._broker.wait_for_data(remaining)

    def _take(self, max_records: int) -> list[Delivery]:
        if self._paused:
            return []
        taken: list[Delivery] = []
        for tp in sorted(self._assignment):
            log = self._broker.topics[tp.topic][tp.partition]
            # Below the log start, a position resets to it (`auto_offset_reset=earliest`).
            start = max(self._positions[tp], self._broker.start_of(tp))
            chunk = log[start : start + max_records - len(taken)]
            self._positions[tp] = start + len(chunk)
            taken.extend(chunk)
            if len(taken) >= max_records:
                break
        return taken

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._group_name is None:
            raise TransportError("a consumer without a group cannot commit")
        not_owned = set(offsets) - self._assignment
        if not_owned:
            raise TransportError(f"commit refused: partitions {sorted(not_owned)} not owned")
        self._broker.group(self._group_name).committed.update(offsets)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def assignment(self) -> frozenset[TopicPartition]:
        return self._assignment

    async def start_offsets(self) -> dict[TopicPartition, int]:
        return {tp: self._broker.start_of(tp) for tp in self._assignment}

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return {tp: len(self._broker.topics[tp.topic][tp.partition]) for tp in self._assignment}


async def _rebalance(broker: MemoryBroker, group: _Group) -> None:
    """Eager rebalance, like Kafka's classic protocol: revoke all, then range-assign."""
    async with group.lock:
        for member in group.members:
            await member._revoke()
        members = sorted(group.members, key=lambda m: m._member_id)
        if not members:
            return
        shares: dict[int, set[TopicPartition]] = {id(m): set() for m in members}
        topics = sorted({t for m in members for t in m._topics})
        for topic in topics:
            partitions = broker.partitions_of([topic])
            for index, tp in enumerate(partitions):
                shares[id(members[index * len(members) // len(partitions)])].add(tp)
        for member in members:
            await member._assign(frozenset(shares[id(member)]), group)


class MemoryTransport(Transport):
    """A transport onto a `MemoryBroker` (a fresh private one unless given)."""

    def __init__(self, broker: MemoryBroker | None = None) -> None:
        self.broker = broker if broker is not None else MemoryBroker()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ensure_topics(self, specs: Sequence[TopicSpec]) -> None:
        for spec in specs:
            self.broker.create(spec)

    async def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        self.broker.append(topic, value, key, headers or {})
        await asyncio.sleep(0)  # a real publish always yields to the loop

    async def publish_many(self, records: Sequence[Outgoing]) -> None:
        for r in records:
            self.broker.append(r.topic, r.value, r.key, r.headers, r.partition)
        await asyncio.sleep(0)

    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str | None,
        listener: RebalanceListener | None = None,
    ) -> Consumer:
        return MemoryConsumer(self.broker, topics, group, listener)

    async def offsets(
        self, topics: Sequence[str], *, group: str | None = None
    ) -> list[PartitionOffsets]:
        await asyncio.sleep(0)
        committed = self.broker.groups[group].committed if group in self.broker.groups else {}
        logs = self.broker.topics
        return [
            PartitionOffsets(
                tp, self.broker.start_of(tp), len(logs[tp.topic][tp.partition]), committed.get(tp)
            )
            for tp in self.broker.partitions_of(topics)
        ]

    async def read_partitions(
        self, partitions: Sequence[TopicPartition], *, timeout: float = 60.0
    ) -> list[Delivery]:
        await asyncio.sleep(0)
        for tp in partitions:
            if tp.topic not in self.broker.topics:
                raise UnknownTopic(f"cannot read missing topic {tp.topic!r}")
        return [r for tp in partitions for r in self.broker.held(tp)]
