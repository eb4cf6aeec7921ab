"""The commit loop: finished offsets go out every `commit_interval`; an idle worker's
loop sleeps until a record arrives.

While a worker holds anything (a task running or in the backlog, a retry record not
due, an offset done but not committed yet) the loop goes round every
`commit_interval`: it commits what finished (below the lowest offset still in flight,
mesh/runtime/_offsets.py) and lets backlog tasks that wait too long say why
(`Admission.report_held`). A worker that holds nothing has nothing to commit or
report, so its loop waits for the offset tracker's next `begin` or `finish` instead of
waking every `commit_interval` for nothing (issue 17: seven idle workers of one
process woke 35 times a second). A commit still goes out within `commit_interval` of
an offset finishing; a rebalance and a stop commit on their own, as before
(mesh/runtime/_partitions.py, `Worker._drain`).
"""

from __future__ import annotations

import asyncio
import contextlib

from mesh.runtime._admission import Admission
from mesh.runtime._offsets import OffsetTracker
from mesh.runtime._partitions import OwnedPartitions


class CommitLoop:
    """Commits a worker's finished offsets and reports its held tasks, while it holds any."""

    def __init__(
        self,
        *,
        interval: float,
        tracker: OffsetTracker,
        partitions: OwnedPartitions,
        admission: Admission,
        stopping: asyncio.Event,
    ) -> None:
        self._interval = interval
        self._tracker = tracker
        self._partitions = partitions
        self._admission = admission
        self._stopping = stopping
        self.sleeps = 0  # times the loop went idle (tests read it)

    def idle(self) -> bool:
        """Nothing held, nothing to commit: no reason to go round."""
        tracker = self._tracker
        return (
            not self._admission.running
            and not tracker.inflight_count()
            and not tracker.pending_commits()
        )

    async def run(self) -> None:
        """Until the worker stops."""
        while not self._stopping.is_set():
            if self.idle():
                await self._sleep_until_activity()
            # Then one interval, so the commits of records finishing together batch.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stopping.wait()
            if not self._stopping.is_set():
                self._admission.report_held()
                await self._partitions.commit()

    async def _sleep_until_activity(self) -> None:
        """Wait for the tracker's next begin or finish, or the stop. Cleared right after
        the idle check, with no await between: no activity can fall in between."""
        self._tracker.activity.clear()
        self.sleeps += 1
        activity = asyncio.ensure_future(self._tracker.activity.wait())
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((activity, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            activity.cancel()
            stopped.cancel()
