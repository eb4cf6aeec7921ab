"""`Keeper`: this process's share of the mesh's budget keepers (ADR 025).

Every process that has used a budget joins one consumer group on the requests topic;
the member owning a partition keeps the budgets keyed onto it. There is no keeper
process to run or lose: when a member leaves, a rebalance gives its partitions to
the others. Unlike the rate limits' allocators, a keeper's state is durable: it
writes each budget's new balance to the compacted ledger topic (on the same
partition number as the request) BEFORE it answers, and a keeper that gets a
partition first reads that ledger partition whole. A request the previous owner
applied but did not commit is applied again; reservations are named, so that
changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import ValidationError

from mesh._background import BackgroundTask
from mesh.budgets.book import BudgetBook
from mesh.budgets.messages import BudgetReply, BudgetRequest, BudgetState
from mesh.errors import TransportError
from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import Consumer, Delivery, Outgoing, TopicPartition, Transport

log = logging.getLogger(__name__)
_RETRY = 1.0  # seconds between attempts after a failed fetch or publish


class Keeper:
    """Owns the books of the budgets on the partitions assigned to this process."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._topics = Topics(settings.namespace)
        self._books: dict[int, dict[str, BudgetBook]] = {}  # by requests partition
        self._busy = asyncio.Lock()  # a batch is applied whole before a revocation
        self._consumer: Consumer = transport.consumer(
            [self._topics.budget_requests], group=self._topics.budget_keepers, listener=self
        )
        self._loop = BackgroundTask("budget-keeper", logger=log)

    async def start(self) -> None:
        await self._consumer.start()
        self._loop.start(self._serve())

    async def stop(self) -> None:
        await self._loop.stop()
        await self._consumer.stop()

    def book(self, budget: str) -> BudgetBook | None:
        """The book of `budget` when this process keeps it (for tests)."""
        return next((b[budget] for b in self._books.values() if budget in b), None)

    # -- the group's rebalance listener ----------------------------------------------

    async def on_revoked(self, partitions: frozenset[TopicPartition]) -> None:
        async with self._busy:  # the batch being applied is written and answered first
            self._books = {}

    async def on_assigned(self, partitions: frozenset[TopicPartition]) -> None:
        owned = sorted(tp.partition for tp in partitions)
        ledger = [TopicPartition(self._topics.budget_ledger, p) for p in owned]
        records = await self._read_ledger(ledger)
        books: dict[int, dict[str, BudgetBook]] = {p: {} for p in owned}
        for record in records:  # in offset order: the latest state of a budget wins
            if record.value is not None and record.partition in books:
                state = BudgetState.model_validate_json(record.value)
                books[record.partition][state.budget] = BudgetBook(state)
        self._books = books
        log.info("budget keeper: keeping budgets of requests partitions %s", owned)

    async def _read_ledger(self, ledger: list[TopicPartition]) -> list[Delivery]:
        # Without its ledger a keeper must not answer (it would start from zero), so
        # it tries until the read succeeds; meanwhile clients ask again.
        while True:
            try:
                return await self._transport.read_partitions(ledger)
            except TransportError as exc:
                log.warning("budget keeper: reading the ledger failed, again: %s", exc)
                await asyncio.sleep(_RETRY)

    # -- serving ---------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            try:
                records = await self._consumer.fetch(timeout=1.0, max_records=500)
                async with self._busy:
                    await self._apply(records)
            except TransportError as exc:  # clients ask again when no answer comes
                log.warning("budget keeper: %s; again in %.0f s", exc, _RETRY)
                await asyncio.sleep(_RETRY)

    async def _apply(self, records: list[Delivery]) -> None:
        now = time.time()
        changed: dict[tuple[int, str], BudgetBook] = {}
        for partition, books in self._books.items():  # expired reservations free up
            for book in books.values():
                if book.expire(now):
                    changed[(partition, book.budget)] = book
        replies = []
        for record in records:
            answered = self._answer(record, now, changed)
            if answered is not None:
                replies.append(answered)
        ledger = [
            Outgoing(
                self._topics.budget_ledger,
                b.state().model_dump_json().encode(),
                key=budget.encode(),
                partition=partition,
            )
            for (partition, budget), b in changed.items()
        ]
        if ledger:
            await self._transport.publish_many(ledger)  # durable before anyone is told
        if replies:
            await self._transport.publish_many(replies)
        owned = self._consumer.assignment()
        offsets = {r.tp: r.offset + 1 for r in records if r.tp in owned}
        if offsets:
            await self._consumer.commit(offsets)

    def _answer(
        self, record: Delivery, now: float, changed: dict[tuple[int, str], BudgetBook]
    ) -> Outgoing | None:
        books = self._books.get(record.partition)
        if books is None or record.value is None:
            return None  # revoked meanwhile: its new owner answers
        try:
            request = BudgetRequest.model_validate_json(record.value)
        except ValidationError as exc:
            log.warning("budget keeper: skipping %s: %s", record.where(), exc)
            return None
        book = books.get(request.budget)
        if book is None:
            book = books[request.budget] = BudgetBook.empty(request.budget)
        name = request.reservation
        if request.op == "reserve":
            granted = book.reserve(name, request.amounts, request.limit, now=now, ttl=request.ttl)
        elif request.op == "settle":
            granted = book.settle(name, request.amounts)
        else:
            granted = book.release(name)
        # Written even when unchanged: a request asked again after a failed ledger write
        # finds the book changed in memory, and the ledger must catch up before a reply.
        changed[(record.partition, book.budget)] = book
        reply = BudgetReply(
            request=request.request,
            client=request.client,
            budget=book.budget,
            granted=granted,
            limit=book.limit,
            spent=book.spent,
            reserved=book.reserved(),
        )
        value = reply.model_dump_json().encode()
        return Outgoing(self._topics.budget_replies, value, key=request.client.encode())
