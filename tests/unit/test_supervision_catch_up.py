"""The supervisor judges no task while it reads the task events again (ADR 059)."""

from __future__ import annotations

import pytest

from mesh.supervision._catch_up import STALL_AFTER, CatchUp
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


async def _commit(transport: MemoryTransport, offsets: dict[int, int]) -> None:
    consumer = transport.consumer([EVENTS], group=TOPICS.supervisor_app)
    await consumer.start()
    await consumer.commit({TopicPartition(EVENTS, p): o for p, o in offsets.items()})
    await consumer.stop()


async def test_it_waits_until_every_owned_partition_is_folded_to_its_end_then() -> None:
    transport = await _transport((5, 3))
    await _commit(transport, {0: 2, 1: 3})  # partition 1 was committed to its end
    catch_up = CatchUp(TOPICS)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], now=0.0)
    assert catch_up.behind() == {0: 3}  # offsets 2, 3 and 4 are read again
    catch_up.folded(0, 2)
    catch_up.folded(0, 3)
    # Records published after the reading resumed are not waited for.
    await transport.publish_many([Outgoing(EVENTS, b"{}", partition=0)])
    assert not await catch_up.caught_up(transport, lambda: [0, 1], now=1.0)
    catch_up.folded(0, 4)
    assert await catch_up.caught_up(transport, lambda: [0, 1], now=2.0)


async def test_a_rebalance_starts_the_wait_again_for_what_the_instance_owns() -> None:
    transport = await _transport((4, 4))
    catch_up = CatchUp(TOPICS)
    assert not await catch_up.caught_up(transport, lambda: [0], now=0.0)
    for offset in range(4):
        catch_up.folded(0, offset)
    assert await catch_up.caught_up(transport, lambda: [0], now=1.0)

    catch_up.restart()  # now it owns both partitions, read from the committed offsets
    await _commit(transport, {0: 4})
    assert not await catch_up.caught_up(transport, lambda: [0, 1], now=2.0)
    assert catch_up.behind() == {1: 4}
    catch_up.folded(1, 3)
    assert await catch_up.caught_up(transport, lambda: [0, 1], now=3.0)


async def test_a_reading_that_stalls_gives_way_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = await _transport((3, 0))
    catch_up = CatchUp(TOPICS)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], now=0.0)
    catch_up.folded(0, 0)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], now=10.0)
    assert not await catch_up.caught_up(transport, lambda: [0, 1], now=10.0 + STALL_AFTER)
    assert await catch_up.caught_up(transport, lambda: [0, 1], now=11.0 + STALL_AFTER)
    assert "task events not read again (2 in partition 0 left)" in caplog.text
