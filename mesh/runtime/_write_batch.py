"""`WriteBatch`: records written in one turn of the event loop go out as one produce.

Tasks that end together resume together: the acknowledgements of their lifecycle
records arrive in one producer batch, and each then writes its journal `ended` record
(ADR 009, ADR 050). Written one by one, each record is a publish of its own: a
queue entry, a future and a done callback in the producer's writer, and a counter
update. Here they are collected until the loop's next turn and handed to the
publisher as one list; each writer still gets a future of its own, resolved when
the broker has acknowledged the whole list, so awaiting it keeps the rule that the
record is acknowledged before what it protects is committed.

A writer that stops waiting (its task cancelled) cancels only its own future: the
batch is written regardless, as a single publish would have been. When the batch
fails, every writer in it gets the error and handles it as before (a task's outcome
is written again after a pause; a background write is retried).
"""

from __future__ import annotations

import asyncio
import functools

from mesh.errors import TransportError
from mesh.runtime.publisher import Publisher
from mesh.transport.base import Outgoing


class WriteBatch:
    """Collects records for one publisher and sends them once per loop turn."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._records: list[Outgoing] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._sending: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs

    def write(self, record: Outgoing) -> asyncio.Future[None]:
        """Queue `record`; the future resolves once the broker acknowledged its batch."""
        loop = asyncio.get_running_loop()
        if not self._records:
            loop.call_soon(self._send)
        self._records.append(record)
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def _send(self) -> None:
        records, waiters = self._records, self._waiters
        self._records, self._waiters = [], []
        sending = asyncio.ensure_future(self._publisher.send_many(records))
        self._sending.add(sending)
        sending.add_done_callback(functools.partial(self._settle, waiters))

    def _settle(self, waiters: list[asyncio.Future[None]], sending: asyncio.Task[None]) -> None:
        self._sending.discard(sending)
        if sending.cancelled():
            error: BaseException | None = TransportError("the journal write was cancelled")
        else:
            error = sending.exception()
        for waiter in waiters:
            if waiter.done():  # its writer stopped waiting; the record went out regardless
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
