"""What every transport must do (the memory double and the Kafka adapter alike).

Subclasses provide the `transport` fixture (a started transport) and `delete_records`
(drop a partition's records below an offset, as retention or compaction would).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from mesh.transport.base import (
    Consumer,
    Delivery,
    Outgoing,
    TopicPartition,
    TopicSpec,
    Transport,
    unread_ends,
)
from tests.helpers import eventually_true

DeleteRecords = Callable[[TopicPartition, int], Awaitable[None]]


def _topic() -> str:
    return f"contract-{uuid.uuid4().hex[:8]}"


async def _drain(consumer: Consumer, expected: int, timeout: float = 20.0) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(await consumer.fetch(timeout=0.2, max_records=1000))
    return got


class RecordingListener:
    def __init__(self) -> None:
        self.calls: list[tuple[str, frozenset[TopicPartition]]] = []

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        self.calls.append(("revoked", partitions))

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        self.calls.append(("assigned", partitions))


class TransportBehaviour:
    async def test_ensure_topics_is_idempotent(self, transport: Transport) -> None:
        spec = TopicSpec(_topic(), partitions=3)
        await transport.ensure_topics([spec])
        await transport.ensure_topics([spec, TopicSpec(spec.name, partitions=3, compacted=True)])
        reader = transport.consumer([spec.name], group=None)
        await reader.start()
        assert len(reader.assignment()) == 3
        await reader.stop()

    async def test_a_key_keeps_its_partition_and_order(self, transport: Transport) -> None:
        topic = _topic()
        await transport.ensure_topics([TopicSpec(topic, partitions=4)])
        for n in range(30):
            await transport.publish(topic, b"%d" % n, key=b"k%d" % (n % 3), headers={"h": b"1"})
        reader = transport.consumer([topic], group=None)
        await reader.start()
        records = await _drain(reader, 30)
        await reader.stop()
        assert len(records) == 30
        for key in (b"k0", b"k1", b"k2"):
            mine = [r for r in records if r.key == key]
            assert len({r.partition for r in mine}) == 1
            values = [int(r.value or b"") for r in sorted(mine, key=lambda r: r.offset)]
            assert values == sorted(values)
        assert records[0].headers["h"] == b"1"

    async def test_reader_sees_everything_and_end_offsets_match(self, transport: Transport) -> None:
        topic = _topic()
        await transport.ensure_topics([TopicSpec(topic, partitions=2)])
        for n in range(10):
            await transport.publish(topic, b"v", key=b"%d" % n)
        reader = transport.consumer([topic], group=None)
        await reader.start()
        records = await _drain(reader, 10)
        ends = await reader.end_offsets()
        await reader.stop()
        assert len(records) == 10
        assert sum(ends.values()) == 10
        for tp, end in ends.items():
            assert end == len([r for r in records if r.tp == tp])

    async def test_group_members_share_partitions_and_take_over(self, transport: Transport) -> None:
        topic, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
        await transport.ensure_topics([TopicSpec(topic, partitions=4)])
        listener = RecordingListener()
        first = transport.consumer([topic], group=group, listener=listener)
        second = transport.consumer([topic], group=group)
        await first.start()
        await second.start()
        everything = {TopicPartition(topic, p) for p in range(4)}

        def split() -> bool:
            a, b = first.assignment(), second.assignment()
            return bool(a) and bool(b) and not (a & b) and (a | b) == everything

        await _poll_both(first, second, split)
        await second.stop()
        await _poll_both(first, None, lambda: first.assignment() == everything)
        await first.stop()
        revoked = [parts for kind, parts in listener.calls if kind == "revoked" and parts]
        assigned = [parts for kind, parts in listener.calls if kind == "assigned"]
        assert revoked, "the second member's join revoked the first member's partitions"
        assert assigned[-1] == everything

    async def test_a_new_member_resumes_at_the_committed_offset(self, transport: Transport) -> None:
        topic, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
        await transport.ensure_topics([TopicSpec(topic, partitions=1)])
        for n in range(10):
            await transport.publish(topic, b"%d" % n, key=b"k")
        first = transport.consumer([topic], group=group)
        await first.start()
        records = await _drain(first, 10)
        assert [r.offset for r in records] == list(range(10))
        await first.commit({TopicPartition(topic, 0): 6})
        await first.stop()
        second = transport.consumer([topic], group=group)
        await second.start()
        again = await _drain(second, 4)
        await second.stop()
        assert [r.offset for r in again] == [6, 7, 8, 9]

    async def test_offsets_give_lag_from_the_groups_commits(self, transport: Transport) -> None:
        topic, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
        await transport.ensure_topics([TopicSpec(topic, partitions=2)])
        for n in range(5):
            await transport.publish(topic, b"%d" % n, key=b"same-key")
        member = transport.consumer([topic], group=group)
        await member.start()
        records = await _drain(member, 5)
        await member.commit({records[0].tp: 3})
        await member.stop()
        offsets = {o.tp: o for o in await transport.offsets([topic, "no-such-topic"], group=group)}
        assert set(offsets) == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
        used, other = offsets.pop(records[0].tp), next(iter(offsets.values()))
        assert (used.start, used.end, used.committed, used.lag) == (0, 5, 3, 2)
        assert (other.end, other.committed, other.lag) == (0, None, 0)
        ungrouped = {o.tp: o for o in await transport.offsets([topic])}
        assert ungrouped[records[0].tp].committed is None
        assert ungrouped[records[0].tp].lag == ungrouped[records[0].tp].held == 5

    async def test_readers_start_at_the_log_start_and_pass_emptied_partitions(
        self, transport: Transport, delete_records: DeleteRecords
    ) -> None:
        """A partition whose records all expired (start = end > 0) holds nothing to
        wait for: reading it to its end returns at once, it never hangs (a worker's
        journal load at assignment reads partitions this way)."""
        topic = _topic()
        emptied, kept = TopicPartition(topic, 0), TopicPartition(topic, 1)
        await transport.ensure_topics([TopicSpec(topic, partitions=2)])
        await transport.publish_many([Outgoing(topic, b"old", partition=0) for _ in range(4)])
        await transport.publish_many([Outgoing(topic, b"%d" % n, partition=1) for n in range(3)])
        await delete_records(emptied, 4)
        await delete_records(kept, 1)

        records = await transport.read_partitions([emptied, kept], timeout=20)
        assert [(r.partition, r.offset, r.value) for r in records] == [(1, 1, b"1"), (1, 2, b"2")]
        offsets = {o.tp: (o.start, o.end) for o in await transport.offsets([topic])}
        assert offsets == {emptied: (4, 4), kept: (1, 3)}
        reader = transport.consumer([topic], group=None)
        await reader.start()
        assert await reader.start_offsets() == {emptied: 4, kept: 1}
        assert await unread_ends(reader) == {kept: 3}
        assert [r.offset for r in await _drain(reader, 2)] == [1, 2]
        await reader.stop()
        assert len(await transport.read_topics([topic], timeout=20)) == 2

    async def test_pause_holds_records_until_resume(self, transport: Transport) -> None:
        topic, group = _topic(), f"g-{uuid.uuid4().hex[:8]}"
        await transport.ensure_topics([TopicSpec(topic, partitions=1)])
        consumer = transport.consumer([topic], group=group)
        await consumer.start()
        await _poll_both(consumer, None, lambda: bool(consumer.assignment()))
        consumer.pause()
        await transport.publish(topic, b"v", key=b"k")
        assert await consumer.fetch(timeout=0.5, max_records=10) == []
        consumer.resume()
        assert len(await _drain(consumer, 1)) == 1
        await consumer.stop()


async def _poll_both(
    first: Consumer, second: Consumer | None, condition: Callable[[], bool]
) -> None:
    """Keep both members fetching (that is when rebalances run) until `condition`."""

    async def step() -> bool:
        await first.fetch(timeout=0.05, max_records=1)
        if second is not None:
            await second.fetch(timeout=0.05, max_records=1)
        return condition()

    await eventually_true(step, timeout=30, interval=0, what="the group to settle")
