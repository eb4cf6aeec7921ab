"""`Allocator`: this process's share of the mesh's rate-limit allocators (ADR 024).

Every process that limits model calls joins one consumer group on the requests
topic; the member owning a partition is the allocator of the resources keyed onto
it. There is no allocator process to run or lose: when a member leaves, a rebalance
gives its partitions to the others, whose new ledgers learn for two refresh
intervals (mesh/quota/ledger.py) before dividing by demand.

The allocator keeps no durable state: a ledger is rebuilt from the reports clients
send every refresh interval, so it never needs the topic's history. It skips
reports older than a lease (a new owner reads from the last commit) and commits
what it has read after each batch.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import ValidationError

from mesh._background import BackgroundTask
from mesh.errors import TransportError
from mesh.quota.ledger import ResourceLedger
from mesh.quota.messages import Demand, Grant
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import Consumer, Delivery, Outgoing, TopicPartition, Transport

log = logging.getLogger(__name__)
_RETRY = 1.0  # seconds between attempts after a failed fetch or publish


class Allocator:
    """Owns the ledgers of the resources on the partitions assigned to this process."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._topics = Topics(settings.namespace)
        self._lease = settings.model_limits_lease
        # Every client holding a lease reports each refresh; after two, a new owner has
        # heard from all that can still reach the broker (ADR 024).
        self._learning = 2 * settings.model_limits_refresh
        self._ledgers: dict[TopicPartition, dict[str, ResourceLedger]] = {}
        self._revoked: dict[TopicPartition, dict[str, ResourceLedger]] = {}
        self._consumer: Consumer = transport.consumer(
            [self._topics.quota_requests], group=self._topics.quota_allocators, listener=self
        )
        self._loop = BackgroundTask("quota-allocator", logger=log)

    async def start(self) -> None:
        await self._consumer.start()
        self._loop.start(self._serve())

    async def stop(self) -> None:
        await self._loop.stop()
        await self._consumer.stop()

    def ledger(self, resource: str) -> ResourceLedger | None:
        """The ledger of `resource` when this process is its allocator (for tests)."""
        return next((p[resource] for p in self._ledgers.values() if resource in p), None)

    # -- the group's rebalance listener ----------------------------------------------

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        # Kept aside: a partition assigned back at once keeps its ledgers (this process
        # granted every live lease on it, so it need not learn).
        self._revoked = self._ledgers
        self._ledgers = {}

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        learned_at = time.monotonic() + self._learning
        for tp in partitions:
            kept = self._revoked.get(tp)
            self._ledgers[tp] = kept if kept is not None else _Learning(learned_at)
        self._revoked = {}
        owned = sorted(tp.partition for tp in partitions)
        log.info("quota allocator: allocating for requests partitions %s", owned)

    # -- serving ---------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            try:
                records = await self._consumer.fetch(timeout=1.0, max_records=1000)
                grants = [g for r in records for g in self._answer(r)]
                if grants:
                    await self._transport.publish_many([self._outgoing(g) for g in grants])
                if records:
                    await self._commit(records)
            except TransportError as exc:  # clients retry: their next report asks again
                log.warning("quota allocator: %s; again in %.0f s", exc, _RETRY)
                await asyncio.sleep(_RETRY)

    def _answer(self, record: Delivery) -> list[Grant]:
        ledgers = self._ledgers.get(record.tp)
        if ledgers is None or record.value is None:
            return []  # revoked meanwhile: its new owner answers
        try:
            demand = Demand.model_validate_json(record.value)
        except ValidationError as exc:
            log.warning("quota allocator: skipping %s: %s", record.where(), exc)
            return []
        if demand.sent_at < time.time() - self._lease:
            return []  # from before a lease ago: its sender has reported since
        ledger = ledgers.get(demand.resource)
        if ledger is None:
            learning = ledgers.learning_until if isinstance(ledgers, _Learning) else 0.0
            ledger = ledgers[demand.resource] = ResourceLedger(
                demand.resource, lease=self._lease, learning_until=learning
            )
        return ledger.report(demand, time.monotonic())

    def _outgoing(self, grant: Grant) -> Outgoing:
        return Outgoing(
            self._topics.quota_grants, grant.model_dump_json().encode(), key=grant.client.encode()
        )

    async def _commit(self, records: list[Delivery]) -> None:
        owned = self._consumer.assignment()
        offsets = {r.tp: r.offset + 1 for r in records if r.tp in owned}
        if offsets:
            await self._consumer.commit(offsets)


class _Learning(dict[str, ResourceLedger]):
    """The ledgers of a partition newly assigned: resources first reported before
    `learning_until` start learning (mesh/quota/ledger.py)."""

    def __init__(self, learning_until: float) -> None:
        super().__init__()
        self.learning_until = learning_until
