"""Judge no task while the task events are being read again (ADR 059).

After every rebalance, and at start-up, faust restores the leases from their
changelog and seeks the task-events stream back to the group's committed offsets:
the events after them are folded a second time. Until they are, a lease can lack
the events that ended or renewed it (a redispatched task's `succeeded`, a new
attempt's `started`), and judged then it looks stuck: a supervisor that took over
gave up on tasks that had succeeded. So the check waits until every task-events
partition the instance owns was folded up to where it ended when the reading
resumed (its end offset then), as it waits while faust rebalances.

faust can also drop records its consumer has fetched (when its flow stops or the
generation changes while it hands them out): a partition then stands at its end with
events never folded, or shows a gap in its offsets. A stalled reading is sought back
to the first event not folded, and a gap is read again once; the check waits for
those re-readings too.

The adapter (mesh/supervision/app.py) feeds the folds in and asks `caught_up`
before each check.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from mesh.errors import TransportError
from mesh.topics import Topics
from mesh.transport.base import PartitionOffsets, Transport

log = logging.getLogger(__name__)

# A reading that makes no progress for this long is sought back to where the folding
# stands: faust drops records already fetched when its flow stops or the generation
# changes while it hands them out, and only a seek makes the consumer fetch them again
# (seen after a takeover: the consumer at the partition's end, nothing folded).
RESEEK_AFTER = 5.0
# After this many seeks without progress the reading is given up on, with a warning:
# an end offset no record reaches (another producer's transaction marker) must not
# keep the supervisor from judging at all.
MAX_RESEEKS = 3


SKIPPED = "task events %d:%d-%d were skipped by the consumer: reading them again"


class CatchUp:
    """Whether the task events re-read since the last rebalance have all been folded."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self._folded: dict[int, int] = {}  # partition -> the offset after its last fold
        # partition -> (where the reading resumed, the end offset to fold up to then);
        # None: not aimed since the rebalance
        self._targets: dict[int, tuple[int, int]] | None = None
        self._told: dict[int, int] = {}  # what was last logged as left to fold
        self._progress_at = 0.0  # when the events left to fold last changed
        self._reseeks = 0  # seeks since the last progress
        self._first: dict[int, int] = {}  # partition -> the first offset folded
        self._gaps: set[tuple[int, int]] = set()  # (partition, offset) read again once
        # partition -> [the skipped offset sought back to, the offset of the event
        # that showed the gap, the offset the re-reading has reached (-1: not begun;
        # the rest of the batch in hand, fetched before the seek, comes first)]
        self._rereading: dict[int, list[int]] = {}

    @property
    def aimed(self) -> bool:
        return self._targets is not None

    def restart(self) -> None:
        """A rebalance began: the reading starts again from the committed offsets."""
        self._folded.clear()
        self._first.clear()
        self._rereading.clear()
        self._targets = None
        self._told = {}
        self._reseeks = 0

    def folded(self, partition: int, offset: int) -> int | None:
        """The event at `offset` of `partition` was folded into its lease. Returns the
        offset to read the partition again from when events before it were skipped
        (faust dropped records it had fetched; each gap is read again once: another
        producer's transaction marker is a gap no re-read fills)."""
        expected = self._folded.get(partition)
        self._first.setdefault(partition, offset)
        if (rereading := self._rereading.get(partition)) is not None:
            self._reread(partition, rereading, offset)
        if expected is None or offset >= expected:
            self._folded[partition] = offset + 1
        if expected is not None and offset > expected and (partition, expected) not in self._gaps:
            self._gaps.add((partition, expected))
            log.warning(SKIPPED, partition, expected, offset - 1)
            self._rereading[partition] = [expected, offset, -1]
            return expected
        return None

    def _reread(self, partition: int, rereading: list[int], offset: int) -> None:
        """Follow a partition read again from a skipped offset: it has begun once an
        event before the one that showed the gap comes, and ends past that one."""
        _, past, reached = rereading
        if reached < 0 and offset >= past:
            return  # still the batch in hand, fetched before the seek
        rereading[2] = offset
        if offset >= past:
            del self._rereading[partition]

    def _seek_offset(self, partition: int) -> int:
        """Where a stalled partition is read again from."""
        if (rereading := self._rereading.get(partition)) is not None:
            return max(rereading[0], rereading[2] + 1)
        return self._read_up_to(partition)

    def aim(
        self, offsets: Iterable[PartitionOffsets], owned: Iterable[int]
    ) -> dict[int, tuple[int, int]]:
        """Set the end offsets to reach, from the offsets read once the reading resumed:
        each owned partition's end, unless the group had committed that far already."""
        ends = {o.tp.partition: o for o in offsets}
        self._targets = {}
        for partition in owned:
            if (o := ends.get(partition)) is None:
                continue
            resumed = max(o.committed or 0, o.start)
            if resumed < o.end:
                self._targets[partition] = (resumed, o.end)
        return self._targets

    def behind(self) -> dict[int, int]:
        """Per owned partition still being read again, the events left to fold (empty
        once caught up; everything owned is behind until `aim`)."""
        if self._targets is None:
            raise RuntimeError("aim() first: the targets are read once the reading resumes")
        left = {}
        for partition, (_, end) in self._targets.items():
            read = self._read_up_to(partition)
            if read < end:
                left[partition] = end - read
        for partition, (skipped, past, reached) in self._rereading.items():
            left[partition] = max(left.get(partition, 0), past + 1 - max(skipped, reached + 1))
        return left

    async def caught_up(
        self,
        transport: Transport,
        owned: Callable[[], Iterable[int]],
        seek: Callable[[int, int], Awaitable[None]],
        now: float,
    ) -> bool:
        """Aim once the reading has resumed (the group's committed and end offsets of
        the task events, read from the broker), then tell whether it has caught up.
        `seek(partition, offset)` makes the consumer read a partition again from an
        offset; `now` is a monotonic time, to tell a stalled reading."""
        if self._targets is None:
            topics = self._topics
            try:
                offsets = await transport.offsets([topics.task_events], group=topics.supervisor_app)
            except TransportError as exc:
                log.warning("task events' offsets not read (%s); judging nothing yet", exc)
                return False
            targets = self.aim(offsets, owned())
            self._progress_at = now
            for partition, (resumed, _) in targets.items():
                first = self._first.get(partition)
                if first is not None and first > resumed:  # the first events were skipped
                    log.warning(SKIPPED, partition, resumed, first - 1)
                    self._rereading[partition] = [resumed, first, -1]
                    await seek(partition, resumed)
        behind = self.behind()
        if not behind:
            return True
        left = ", ".join(f"{n} in partition {p}" for p, n in sorted(behind.items()))
        if behind != self._told:
            log.info("reading the task events again before judging: %s left", left)
            self._told, self._progress_at, self._reseeks = behind, now, 0
        elif now - self._progress_at > RESEEK_AFTER:
            if self._reseeks >= MAX_RESEEKS:
                log.warning("judging again with task events not read again (%s left)", left)
                self._targets, self._rereading = {}, {}
                return True
            self._reseeks += 1
            self._progress_at = now
            for partition in sorted(behind):
                offset = self._seek_offset(partition)
                log.warning(
                    "task events of partition %d not delivered for %.0f s: reading them "
                    "again from offset %d",
                    partition,
                    RESEEK_AFTER,
                    offset,
                )
                await seek(partition, offset)
        return False

    def _read_up_to(self, partition: int) -> int:
        """The offset after the last event of `partition` folded since the reading resumed."""
        assert self._targets is not None
        resumed, _ = self._targets[partition]
        return max(self._folded.get(partition, 0), resumed)
