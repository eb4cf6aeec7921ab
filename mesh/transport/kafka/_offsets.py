"""Reading offsets without consuming: log start and end of partitions, and where a
consumer group has committed in them (consumer lag, ADR 013).

A consumer with the group's id that never subscribes reads the committed offsets
without joining the group, so measuring never triggers a rebalance of the agents
that own the partitions. (The admin client's OffsetFetch would do too, but the
embedded broker answers it in a form aiokafka cannot decode.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from mesh.errors import TransportError
from mesh.transport.base import PartitionOffsets, TopicPartition


async def read_offsets(
    options: Mapping[str, Any], topics: Sequence[str], group: str | None
) -> list[PartitionOffsets]:
    """See `Transport.offsets`; `options` are the client's connection options."""
    probe = AIOKafkaConsumer(**options, group_id=group, enable_auto_commit=False)
    try:
        await probe.start()
        await probe.topics()  # a metadata refresh: topics created since are seen
        theirs = [
            KafkaTopicPartition(topic, p)
            for topic in topics
            for p in sorted(probe.partitions_for_topic(topic) or ())
        ]
        if not theirs:
            return []
        starts = await probe.beginning_offsets(theirs)
        ends = await probe.end_offsets(theirs)
        found = []
        for tp in theirs:
            committed = await probe.committed(tp) if group is not None else None
            ours = TopicPartition(tp.topic, tp.partition)
            found.append(PartitionOffsets(ours, starts[tp], ends[tp], committed))
        return found
    except KafkaError as exc:
        raise TransportError(f"cannot read the offsets of {list(topics)!r}: {exc}") from exc
    finally:
        await probe.stop()
