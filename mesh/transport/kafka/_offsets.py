"""Reading offsets without consuming: log start and end of partitions, and where a
consumer group has committed in them (consumer lag, ADR 013).

A consumer with the group's id that never subscribes reads the committed offsets
without joining the group, so measuring never triggers a rebalance of the agents
that own the partitions. (The admin client's OffsetFetch would do too, but the
embedded broker answers it in a form aiokafka cannot decode.)

The probes live as long as the transport (one per group): the supervisor measures
every agent type's lag every few seconds, and a new client each time cost a
connection, a bootstrap and a metadata response naming every topic of the cluster
(ADR 036). A probe never subscribes, so it never fetches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.errors import KafkaError

from mesh.errors import TransportError
from mesh.transport.base import PartitionOffsets, TopicPartition

_REFRESH_EVERY = 30.0  # seconds between metadata refreshes for unknown topics


class OffsetProbes:
    """Long-lived offset readers, one per consumer group (and one without a group)."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self._options = dict(options)
        self._probes: dict[str | None, AIOKafkaConsumer] = {}
        self._starting = asyncio.Lock()
        self._refreshed: dict[int, float] = {}  # id(probe) -> when its metadata was

    async def read(self, topics: Sequence[str], group: str | None) -> list[PartitionOffsets]:
        """See `Transport.offsets`."""
        try:
            probe = await self._probe(group)
            await self._refresh_if_unknown(probe, topics)
            theirs = [
                KafkaTopicPartition(topic, p)
                for topic in topics
                for p in sorted(probe.partitions_for_topic(topic) or ())
            ]
            if not theirs:
                return []
            starts = await probe.beginning_offsets(theirs)
            ends = await probe.end_offsets(theirs)
            committed = await _committed(probe, theirs) if group is not None else {}
            return [
                PartitionOffsets(
                    TopicPartition(tp.topic, tp.partition), starts[tp], ends[tp], committed.get(tp)
                )
                for tp in theirs
            ]
        except KafkaError as exc:
            await self._forget(group)  # a broken connection: the next call starts afresh
            raise TransportError(f"cannot read the offsets of {list(topics)!r}: {exc}") from exc

    async def _refresh_if_unknown(self, probe: AIOKafkaConsumer, topics: Sequence[str]) -> None:
        """A metadata refresh when a topic is unknown, so topics created since are seen;
        at most every `_REFRESH_EVERY` s: some are never created (a gateway's topics
        where none runs), and each refresh names every topic of the cluster."""
        if all(probe.partitions_for_topic(topic) is not None for topic in topics):
            return
        now = time.monotonic()
        if now - self._refreshed.get(id(probe), -_REFRESH_EVERY) >= _REFRESH_EVERY:
            self._refreshed[id(probe)] = now
            await probe.topics()

    async def close(self) -> None:
        for group in list(self._probes):
            await self._forget(group)

    async def _probe(self, group: str | None) -> AIOKafkaConsumer:
        async with self._starting:
            if group not in self._probes:
                probe = AIOKafkaConsumer(**self._options, group_id=group, enable_auto_commit=False)
                try:
                    await probe.start()
                except BaseException:
                    await probe.stop()
                    raise
                self._probes[group] = probe
            return self._probes[group]

    async def _forget(self, group: str | None) -> None:
        probe = self._probes.pop(group, None)
        if probe is not None:
            await probe.stop()


async def _committed(
    probe: AIOKafkaConsumer, partitions: list[KafkaTopicPartition]
) -> dict[KafkaTopicPartition, int]:
    """The group's committed offsets of `partitions`, in one OffsetFetch request.

    `AIOKafkaConsumer.committed` asks for one partition per request: an agent type's
    inbox and retry tiers are dozens of partitions, measured every few seconds. Its
    coordinator takes a list (aiokafka is pinned exactly; tests read lag through this).
    """
    found = await probe._coordinator.fetch_committed_offsets(partitions)
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}
