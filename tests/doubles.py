"""Test doubles around the in-memory transport, each modelling one real broker
condition the plain double does not produce on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from mesh.errors import TransportError
from mesh.transport.base import Consumer, Delivery, Outgoing, RebalanceListener, TopicPartition
from mesh.transport.memory import MemoryTransport
from tests.helpers import eventually


class FailingPublishTransport(MemoryTransport):
    """Publishes to `failing_topic` raise `TransportError` while `failures_left` > 0
    (each attempt uses one; -1: for ever), as a broker that refuses the writes does."""

    def __init__(self, failing_topic: str, *, failures: int = -1) -> None:
        super().__init__()
        self.failing_topic = failing_topic
        self.failures_left = failures
        self.refused = 0

    def _refuse(self, topics: Sequence[str]) -> None:
        if self.failing_topic in topics and self.failures_left != 0:
            if self.failures_left > 0:
                self.failures_left -= 1
            self.refused += 1
            raise TransportError(f"the test double refuses writes to {self.failing_topic!r}")

    async def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: bytes | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        self._refuse([topic])
        await super().publish(topic, value, key=key, headers=headers)

    async def publish_many(self, records: Sequence[Outgoing]) -> None:
        self._refuse([record.topic for record in records])
        await super().publish_many(records)


class FailingFetchTransport(MemoryTransport):
    """Fetches of the members of consumer group `failing_group` raise `TransportError`
    while `failures_left` > 0 (each fetch uses one; -1: for ever), as a broker does
    that cannot be reached for a while."""

    def __init__(self, failing_group: str, *, failures: int = -1) -> None:
        super().__init__()
        self.failing_group = failing_group
        self.failures_left = failures

    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str | None,
        listener: RebalanceListener | None = None,
    ) -> Consumer:
        inner = super().consumer(topics, group=group, listener=listener)
        return _FailingFetches(inner, self) if group == self.failing_group else inner


class _Delegating(Consumer):
    """A consumer that passes every call to `inner` (subclasses change some)."""

    def __init__(self, inner: Consumer) -> None:
        self._inner = inner

    async def fetch(self, *, timeout: float, max_records: int) -> list[Delivery]:
        return await self._inner.fetch(timeout=timeout, max_records=max_records)

    async def end_offsets(self) -> dict[TopicPartition, int]:
        return await self._inner.end_offsets()

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        await self._inner.commit(offsets)

    def pause(self) -> None:
        self._inner.pause()

    def resume(self) -> None:
        self._inner.resume()

    def assignment(self) -> frozenset[TopicPartition]:
        return self._inner.assignment()

    async def start_offsets(self) -> dict[TopicPartition, int]:
        return await self._inner.start_offsets()


class _FailingFetches(_Delegating):
    def __init__(self, inner: Consumer, transport: FailingFetchTransport) -> None:
        super().__init__(inner)
        self._transport = transport

    async def fetch(self, *, timeout: float, max_records: int) -> list[Delivery]:
        if self._transport.failures_left != 0:
            if self._transport.failures_left > 0:
                self._transport.failures_left -= 1
            await asyncio.sleep(0.01)  # a failed round trip takes some time
            raise TransportError("the test double fails this fetch")
        return await super().fetch(timeout=timeout, max_records=max_records)


class LaggingFollowerTransport(MemoryTransport):
    """Readers without a group of `topic` lag behind its writes, as a Kafka consumer's
    fetches do: they get a record only once they asked where the topic ends
    (`end_offsets`, i.e. a catch-up), or once the test releases it. With
    `release_on_write`, a write to the topic first lets them read everything before
    it (and waits until they did): a writer then sees its reader apply an older record
    of a key while its own write is under way."""

    def __init__(self, topic: str, *, release_on_write: bool = True) -> None:
        super().__init__()
        self.topic = topic
        self._release_on_write = release_on_write
        self._readers: list[_LaggingReader] = []
        self._last_write: tuple[TopicPartition, int] | None = None

    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str | None,
        listener: RebalanceListener | None = None,
    ) -> Consumer:
        inner = super().consumer(topics, group=group, listener=listener)
        if group is not None or self.topic not in topics:
            return inner
        reader = _LaggingReader(inner, self.topic)
        self._readers.append(reader)
        return reader

    async def publish_many(self, records: Sequence[Outgoing]) -> None:
        ours = [record for record in records if record.topic == self.topic]
        if ours and self._release_on_write:
            await self._release(await self._ends())
        await super().publish_many(records)
        if ours and ours[-1].partition is not None:
            tp = TopicPartition(self.topic, ours[-1].partition)
            self._last_write = (tp, (await self._ends())[tp] - 1)

    async def release_all_but_the_last_write(self) -> None:
        """Let the readers read everything written to `topic` except the last write."""
        assert self._last_write is not None, "nothing was written with a partition"
        tp, offset = self._last_write
        await self._release({**await self._ends(), tp: offset})

    async def _ends(self) -> dict[TopicPartition, int]:
        return {p.tp: p.end for p in await self.offsets([self.topic])}

    async def _release(self, ends: Mapping[TopicPartition, int]) -> None:
        for reader in self._readers:
            await reader.read_up_to(ends)


class _LaggingReader(_Delegating):
    def __init__(self, inner: Consumer, topic: str) -> None:
        super().__init__(inner)
        self._topic = topic
        self._limit: dict[TopicPartition, int] = {}
        self._held: list[Delivery] = []
        self._delivered: dict[TopicPartition, int] = {}

    async def read_up_to(self, ends: Mapping[TopicPartition, int], timeout: float = 5.0) -> None:
        """Let the reader have the records before `ends`; return once it took them."""
        self._limit.update(ends)
        await eventually(
            lambda: all(self._delivered.get(tp, 0) >= end for tp, end in ends.items()),
            timeout=timeout,
            interval=0.005,
            what=f"the lagging reader to read up to {ends}",
        )

    async def fetch(self, *, timeout: float, max_records: int) -> list[Delivery]:
        # While records are held back, look again soon: a limit may have risen.
        wait = min(timeout, 0.01) if self._held else timeout
        self._held.extend(await self._inner.fetch(timeout=wait, max_records=max_records))
        ready = [r for r in self._held if r.topic != self._topic or self._allowed(r)]
        self._held = [r for r in self._held if r not in ready]
        for record in ready:
            self._delivered[record.tp] = record.offset + 1
        return ready

    def _allowed(self, record: Delivery) -> bool:
        return record.offset < self._limit.get(record.tp, 0)

    async def end_offsets(self) -> dict[TopicPartition, int]:
        ends = await self._inner.end_offsets()
        self._limit.update({tp: end for tp, end in ends.items() if tp.topic == self._topic})
        return ends
