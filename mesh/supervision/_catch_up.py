"""Judge no task while the task events are being read again (ADR 059).

After every rebalance, and at start-up, faust restores the leases from their
changelog and seeks the task-events stream back to the group's committed offsets:
the events after them are folded a second time. Until they are, a lease can lack
the events that ended or renewed it (a redispatched task's `succeeded`, a new
attempt's `started`), and judged then it looks stuck: a supervisor that took over
gave up on tasks that had succeeded. So the check waits until every task-events
partition the instance owns was folded up to where it ended when the reading
resumed (its end offset then), as it waits while faust rebalances.

The adapter (mesh/supervision/app.py) feeds the folds in and asks `caught_up`
before each check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from mesh.errors import TransportError
from mesh.topics import Topics
from mesh.transport.base import PartitionOffsets, Transport

log = logging.getLogger(__name__)

# A reading that makes no progress for this long is given up on, with a warning: an
# end offset no record reaches (a transaction's marker from another producer) must
# not keep the supervisor from judging at all.
STALL_AFTER = 30.0


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

    @property
    def aimed(self) -> bool:
        return self._targets is not None

    def restart(self) -> None:
        """A rebalance began: the reading starts again from the committed offsets."""
        self._folded.clear()
        self._targets = None
        self._told = {}

    def folded(self, partition: int, offset: int) -> None:
        """The event at `offset` of `partition` was folded into its lease."""
        if offset >= self._folded.get(partition, 0):
            self._folded[partition] = offset + 1

    def aim(self, offsets: Iterable[PartitionOffsets], owned: Iterable[int]) -> None:
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

    def behind(self) -> dict[int, int]:
        """Per owned partition still being read again, the events left to fold (empty
        once caught up; everything owned is behind until `aim`)."""
        if self._targets is None:
            raise RuntimeError("aim() first: the targets are read once the reading resumes")
        left = {}
        for partition, (resumed, end) in self._targets.items():
            read = max(self._folded.get(partition, 0), resumed)
            if read < end:
                left[partition] = end - read
        return left

    async def caught_up(
        self, transport: Transport, owned: Callable[[], Iterable[int]], now: float
    ) -> bool:
        """Aim once the reading has resumed (the group's committed and end offsets of
        the task events, read from the broker), then tell whether it has caught up
        (`now`: a monotonic time, to tell a stalled reading)."""
        if self._targets is None:
            topics = self._topics
            try:
                offsets = await transport.offsets([topics.task_events], group=topics.supervisor_app)
            except TransportError as exc:
                log.warning("task events' offsets not read (%s); judging nothing yet", exc)
                return False
            self.aim(offsets, owned())
        behind = self.behind()
        if not behind:
            return True
        left = ", ".join(f"{n} in partition {p}" for p, n in sorted(behind.items()))
        if behind != self._told:
            log.info("reading the task events again before judging: %s left", left)
            self._told, self._progress_at = behind, now
        elif now - self._progress_at > STALL_AFTER:
            log.warning("judging again with task events not read again (%s left)", left)
            self._targets = {}
            return True
        return False
