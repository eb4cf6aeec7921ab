"""Per-partition offset bookkeeping for out-of-order completion.

A worker runs many records of one partition at once, so they finish out of order.
Kafka stores one number per partition ("next offset to read"), so the safe commit
point is the lowest offset still in flight: everything below it is done. Offsets
done above that point are remembered, so a re-delivery after a rebalance that gave
us the same partition back is recognised and skipped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mesh.transport.base import TopicPartition


@dataclass
class PartitionOffsets:
    committed: int = 0
    inflight: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    highest_seen: int = -1

    def begin(self, offset: int) -> bool:
        """Start tracking `offset`; False when it is a re-delivery we already hold."""
        if offset < self.committed or offset in self.inflight or offset in self.done:
            return False
        self.inflight.add(offset)
        self.highest_seen = max(self.highest_seen, offset)
        return True

    def finish(self, offset: int) -> None:
        if offset in self.inflight:
            self.inflight.remove(offset)
            self.done.add(offset)

    def commit_point(self) -> int:
        """The next offset to read after everything done below the lowest in-flight one."""
        if self.inflight:
            return min(self.inflight)
        return max(self.highest_seen + 1, self.committed)

    def mark_committed(self, offset: int) -> None:
        self.committed = max(self.committed, offset)
        self.done = {o for o in self.done if o >= self.committed}


class OffsetTracker:
    """`PartitionOffsets` for every partition a worker owns."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionOffsets] = {}
        # Set by each begin and finish: wakes an idle commit loop (mesh/runtime/_commits.py).
        self.activity = asyncio.Event()

    def begin(self, tp: TopicPartition, offset: int) -> bool:
        began = self._partitions.setdefault(tp, PartitionOffsets()).begin(offset)
        if began:
            self.activity.set()
        return began

    def finish(self, tp: TopicPartition, offset: int) -> None:
        partition = self._partitions.get(tp)
        if partition is not None:
            partition.finish(offset)
            self.activity.set()

    def pending_commits(self) -> dict[TopicPartition, int]:
        """Commit points that moved since the last `mark_committed`."""
        return {
            tp: point
            for tp, p in self._partitions.items()
            if (point := p.commit_point()) > p.committed
        }

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if tp in self._partitions:
                self._partitions[tp].mark_committed(offset)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop partitions this worker lost in a rebalance."""
        for tp in partitions:
            self._partitions.pop(tp, None)

    def partitions(self) -> set[TopicPartition]:
        return set(self._partitions)

    def inflight_count(self) -> int:
        return sum(len(p.inflight) for p in self._partitions.values())
