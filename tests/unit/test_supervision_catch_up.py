"""The supervisor judges no task while it reads the task events again (ADR 059)."""

from __future__ import annotations

import pytest

from mesh.supervision._catch_up import MAX_RESEEKS, RESEEK_AFTER, CatchUp
from mesh.topics import Topics
from mesh.transport.base import Outgoing, TopicPartition, TopicSpec
from mesh.transport.memory import MemoryTransport

TOPICS = Topics("catchup")
EVENTS = TOPICS.task_events


async def _transport(events_per_partition: tuple[int, int]) -> MemoryTransport:
    """A broker whose task events have that many records in partitions 0 and 1."""
    transport = MemoryTransport()
    await transport.ensure_topics([TopicSpec(EVENTS, 2)])
    records = [
        Outgoing(EVENTS, b"{}", partition=partition)
        for partition, count in enumerate(events_per_partition)
        for _ in range(count)
    ]
    await transport.publish_many(records)
    return transport


class SeeksRecorded:
    """A test double of faust's consumer seek: records what the catch-up asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, partition: int, offset: int) -> None:
        self.calls.append((partition, offset))


NO_SEEK = SeeksRecorded()


async def _commit(transport: MemoryTransport, offsets: dict[int, int]) -> None:
    consumer = transport.consumer([EVENTS], group=TOPICS.supervisor_app)
    await consumer.start()
    await consumer.commit({TopicPartition(EVENTS, p): o for p, o in offsets.items()})
    await consumer.stop()


async def test_it_waits_until_every_owned_partition_is_folded_to_its_end_then() -> None:
    transport = await _transport((5, 3))
    await _commit(transport, {0: 2, 1: 3})  # partition 1 was committed to its end
    catch_up = CatchUp(TOPICS)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], NO_SEEK, now=0.0)
    assert catch_up.behind() == {0: 3}  # offsets 2, 3 and 4 are read again
    catch_up.folded(0, 2)
    catch_up.folded(0, 3)
    # Records published after the reading resumed are not waited for.
    await transport.publish_many([Outgoing(EVENTS, b"{}", partition=0)])
    assert not await catch_up.caught_up(transport, lambda: [0, 1], NO_SEEK, now=1.0)
    catch_up.folded(0, 4)
    assert await catch_up.caught_up(transport, lambda: [0, 1], NO_SEEK, now=2.0)


async def test_a_rebalance_starts_the_wait_again_for_what_the_instance_owns() -> None:
    transport = await _transport((4, 4))
    catch_up = CatchUp(TOPICS)
    assert not await catch_up.caught_up(transport, lambda: [0], NO_SEEK, now=0.0)
    for offset in range(4):
        catch_up.folded(0, offset)
    assert await catch_up.caught_up(transport, lambda: [0], NO_SEEK, now=1.0)

    catch_up.restart()  # now it owns both partitions, read from the committed offsets
    await _commit(transport, {0: 4})
    assert not await catch_up.caught_up(transport, lambda: [0, 1], NO_SEEK, now=2.0)
    assert catch_up.behind() == {1: 4}
    catch_up.folded(1, 3)
    assert await catch_up.caught_up(transport, lambda: [0, 1], NO_SEEK, now=3.0)


async def test_a_stalled_partition_is_read_again_then_given_way_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """faust drops records it fetched when its flow stops while it hands them out: the
    consumer stands at the end, nothing folded. A seek makes it fetch them again."""
    transport = await _transport((5, 0))
    await _commit(transport, {0: 1})
    catch_up, seeks = CatchUp(TOPICS), SeeksRecorded()
    assert not await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=0.0)
    catch_up.folded(0, 1)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=1.0)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=1.0 + RESEEK_AFTER)
    assert seeks.calls == []
    late = 1.0 + 2 * RESEEK_AFTER
    assert not await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=late)
    assert seeks.calls == [(0, 2)]  # from the first event not folded
    assert "partition 0 not delivered for 5 s: reading them again from offset 2" in caplog.text
    catch_up.folded(0, 2)  # progress: the seeks start over
    assert not await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=late)
    for n in range(1, MAX_RESEEKS + 1):
        at = late + n * (RESEEK_AFTER + 1)
        assert not await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=at)
    assert seeks.calls[1:] == [(0, 3)] * MAX_RESEEKS
    at = late + (MAX_RESEEKS + 1) * (RESEEK_AFTER + 1)
    assert await catch_up.caught_up(transport, lambda: [0, 1], seeks, now=at)
    assert "judging again with task events not read again (2 in partition 0 left)" in caplog.text


def test_events_skipped_by_the_consumer_are_read_again_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """faust drops records it fetched when its flow stops while it hands them out; the
    events after them still come. The gap is read again, once (a transaction marker is
    a gap no re-read fills)."""
    catch_up = CatchUp(TOPICS)
    assert catch_up.folded(0, 1) is None
    assert catch_up.folded(0, 3) == 2  # offset 2 was skipped
    assert "task events 0:2-2 were skipped by the consumer: reading them again" in caplog.text
    assert catch_up.folded(0, 2) is None  # read again after the seek
    assert catch_up.folded(0, 3) is None
    assert catch_up.folded(0, 6) == 4
    assert catch_up.folded(0, 6) is None  # the same gap again: not read a second time
    assert catch_up.folded(1, 9) is None  # a partition's first event: nothing to compare


async def test_first_events_skipped_after_a_rebalance_are_read_again() -> None:
    transport = await _transport((6, 0))
    await _commit(transport, {0: 2})
    catch_up, seeks = CatchUp(TOPICS), SeeksRecorded()
    catch_up.restart()
    for offset in (4, 5):  # offsets 2 and 3 never came
        assert catch_up.folded(0, offset) is None
    assert not await catch_up.caught_up(transport, lambda: [0], seeks, now=0.0)
    assert seeks.calls == [(0, 2)]
    assert catch_up.behind() == {0: 3}  # 2 and 3, then 4, where the gap showed
    for offset in (2, 3, 4):
        catch_up.folded(0, offset)
    assert await catch_up.caught_up(transport, lambda: [0], seeks, now=1.0)


async def test_no_task_is_judged_until_the_skipped_events_were_read_again() -> None:
    """Events after a gap arrive before the seek takes effect (the batch in hand); the
    judging waits until the events from the gap on were folded again."""
    transport = await _transport((8, 0))
    catch_up = CatchUp(TOPICS)
    for offset in (0, 1, 3, 4, 5, 6, 7):  # 2 skipped; 4-7 came in the same batch as 3
        catch_up.folded(0, offset)
    assert not await catch_up.caught_up(transport, lambda: [0], NO_SEEK, now=0.0)
    assert catch_up.behind() == {0: 2}  # offsets 2 and 3, from the gap to where it showed
    catch_up.folded(0, 2)  # the partition read again from the gap
    assert not await catch_up.caught_up(transport, lambda: [0], NO_SEEK, now=1.0)
    catch_up.folded(0, 3)
    assert await catch_up.caught_up(transport, lambda: [0], NO_SEEK, now=2.0)
