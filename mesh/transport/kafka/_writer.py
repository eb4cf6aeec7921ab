"""One coroutine that hands every record to the aiokafka producer.

aiokafka keeps one open batch per partition; when it is full, `send` waits for it
to drain. With thousands of tasks publishing at once, every one of them waited on
the same drain and woke together to find the next batch full again: `make bench`
counted 140,000 drain waits for 60,000 records, and the hop rate fell as
`max_inflight` grew. Here only the writer ever waits on a drain; publishers wait for
their acknowledgements. Records go to the producer in submission order, so per-key
order is what the publishers asked for.

While the broker is unreachable or hung, records wait here and in the producer; at
most `max_pending` of them. Past that bound `write` fails at once with a clear error
instead of letting memory grow (a worker then hands its task back uncommitted).
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from mesh._background import BackgroundTask
from mesh.errors import TransportError
from mesh.transport.base import Outgoing


class ProducerWriter:
    """Feeds `producer` from a queue; `write` returns a future of all the acks."""

    def __init__(self, producer: AIOKafkaProducer, *, max_pending: int, broker: str) -> None:
        self._producer = producer
        self._max_pending = max_pending
        self._broker = broker
        self._pending = 0  # records written and not yet acknowledged (or failed)
        self._queue: deque[tuple[Sequence[Outgoing], asyncio.Future[None]]] = deque()
        self._ready = asyncio.Event()
        self._task = BackgroundTask("kafka-producer-writer")

    def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        """Stop writing; anything not yet handed to the producer fails."""
        await self._task.stop()
        while self._queue:
            _, done = self._queue.popleft()
            if not done.done():
                done.set_exception(TransportError("the transport stopped before publishing"))

    def write(self, records: Sequence[Outgoing]) -> asyncio.Future[None]:
        """Queue `records`; the future resolves once the broker acknowledged all of them."""
        if not self._task.running:
            if (failure := self._task.failure) is not None:
                raise TransportError(f"the producer's writer stopped on an error: {failure!r}")
            raise TransportError("publish before start(); use `async with` or call start()")
        if self._pending + len(records) > self._max_pending:
            raise TransportError(
                f"{self._pending} records are waiting for the broker at {self._broker!r} "
                f"(MESH_PRODUCER_MAX_PENDING={self._max_pending}); is it reachable?"
            )
        self._pending += len(records)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.add_done_callback(functools.partial(self._settled, len(records)))
        self._queue.append((records, done))
        self._ready.set()
        return done

    def _settled(self, count: int, _: asyncio.Future[None]) -> None:
        self._pending -= count

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                records, done = self._queue.popleft()
                await self._send(records, done)

    async def _send(self, records: Sequence[Outgoing], done: asyncio.Future[None]) -> None:
        try:
            acks = [
                await self._producer.send(
                    r.topic,
                    r.value,
                    key=r.key,
                    headers=list(r.headers.items()),
                    partition=r.partition,
                )
                for r in records
            ]
        except Exception as exc:  # not swallowed: the publisher's future carries it
            if not done.done():
                done.set_exception(_publish_failed(records, exc))
            return
        if not acks:
            if not done.done():
                done.set_result(None)
            return
        settle = _Settle(records, done, len(acks))
        for ack in acks:
            ack.add_done_callback(settle)


class _Settle:
    """Resolves a write's future once every record's ack is in: with the first failure,
    or when the last succeeded. (One object per write, not `asyncio.gather`'s future
    and its callbacks: every task's records pass here.)"""

    __slots__ = ("_done", "_records", "_waiting")

    def __init__(
        self, records: Sequence[Outgoing], done: asyncio.Future[None], waiting: int
    ) -> None:
        self._records = records
        self._done = done
        self._waiting = waiting

    def __call__(self, ack: asyncio.Future[object]) -> None:
        self._waiting -= 1
        failure: BaseException | None = None
        if ack.cancelled():
            failure = TransportError("publish cancelled by the producer")
        elif (exc := ack.exception()) is not None:  # retrieved: asyncio does not log it
            failure = _publish_failed(self._records, exc)
        done = self._done
        if done.done():  # the publisher was cancelled, or an earlier record failed
            return
        if failure is not None:
            done.set_exception(failure)
        elif self._waiting == 0:
            done.set_result(None)


def _publish_failed(records: Sequence[Outgoing], exc: BaseException) -> TransportError:
    topics = sorted({r.topic for r in records})
    return TransportError(f"publish to {topics!r} failed: {exc}")
