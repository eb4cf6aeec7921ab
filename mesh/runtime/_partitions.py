"""The partitions a worker owns: committing them, and taking them on or giving them up.

A worker commits each partition only below its lowest offset still in flight
(mesh/runtime/_offsets.py). When the group rebalances, the worker first holds effects
back and lets those under way finish (the partition's next owner must not overlap
them), commits what is done, and stops consuming until the journal of its new
partitions is loaded; tasks of partitions it lost are handed back uncommitted, so
their next owner runs them (mesh/runtime/fence.py, mesh/runtime/journal.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mesh.errors import TransportError
from mesh.runtime._admission import Admission
from mesh.runtime._delays import DelayedRecords
from mesh.runtime._offsets import OffsetTracker
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal
from mesh.settings import Settings
from mesh.transport.base import Consumer, TopicPartition

log = logging.getLogger(__name__)


class OwnedPartitions:
    """The consumer's rebalance listener, and the commits of the partitions owned."""

    def __init__(
        self,
        agent: str,
        *,
        settings: Settings,
        task_topics: set[str],
        retry_topics: list[str],
        tracker: OffsetTracker,
        fence: EffectFence,
        journal: Journal,
        admission: Admission,
        delays: DelayedRecords,
        paused: Callable[[], bool],
    ) -> None:
        self._agent = agent
        self._settings = settings
        self._task_topics = task_topics  # the inbox and retry tiers: the journal's partitions
        self._retry_topics = retry_topics
        self._tracker = tracker
        self._fence = fence
        self._journal = journal
        self._admission = admission
        self._delays = delays
        self._paused = paused
        self.consumer: Consumer | None = None  # set once the worker made it
        self.assigned = asyncio.Event()
        # Clear from a revocation until the new assignment's journal is loaded.
        self.ready = asyncio.Event()
        self.ready.set()
        self.journal_failure: Exception | None = None

    async def commit(self, only: frozenset[TopicPartition] | None = None) -> None:
        assert self.consumer is not None
        pending = self._tracker.pending_commits()
        if not pending:  # the usual case for an idle worker, several times a second
            return
        owned = self.consumer.assignment() if only is None else only
        pending = {tp: o for tp, o in pending.items() if tp in owned}
        if not pending:
            return
        try:
            await self.consumer.commit(pending)
        except TransportError as exc:  # a rebalance raced us; the next owner re-reads
            log.warning("commit of %s failed: %s", pending, exc)
            return
        self._tracker.mark_committed(pending)

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        """Before the group re-assigns: hold effects back, let those under way finish
        (the new owner of a partition must not overlap them), commit."""
        self.ready.clear()
        await self._fence.close(self._settings.rebalance_grace)
        await self.commit(only=partitions)

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        lost = self._tracker.partitions() - set(partitions)
        self.hand_back(lost)
        owned = {tp.partition for tp in partitions if tp.topic in self._task_topics}
        self._journal.forget(self._journal.partitions() - owned)
        try:
            await self._journal.load(owned)
        except TransportError as exc:  # the consume loop ends the worker with it
            log.exception("loading journal partitions %s failed", sorted(owned))
            self.journal_failure = exc
        self._fence.open()
        self.ready.set()
        if self._paused() and self.consumer is not None:
            self.consumer.pause()  # the new assignment's partitions too
        retries = sum(1 for tp in partitions if tp.topic in self._retry_topics)
        log.info(
            "%s assigned %d partitions (and %d of retry topics)",
            self._agent,
            len(partitions) - retries,
            retries,
        )
        self.assigned.set()

    def hand_back(self, partitions: set[TopicPartition]) -> None:
        """Stop tasks of partitions we no longer own; their next owner runs them."""
        self._admission.hand_back(partitions)
        self._delays.forget(partitions)
        self._tracker.forget(partitions)
