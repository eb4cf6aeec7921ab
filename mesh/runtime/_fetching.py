"""How a worker reads its group consumer: fetches that a stop ends at once, and
backpressure that pauses fetching while the backlog is full."""

from __future__ import annotations

import asyncio
import contextlib

from mesh.runtime._admission import Admission
from mesh.settings import Settings
from mesh.transport.base import Consumer, Delivery

_FETCH_WAIT = 1.0  # seconds a fetch waits for records before the loop goes round
_PAUSED_FETCH_WAIT = 0.1  # the same while fetching is paused for backpressure


class Fetching:
    """The worker's fetches from `consumer` (set once the worker made it)."""

    def __init__(
        self, *, settings: Settings, stopping: asyncio.Event, admission: Admission
    ) -> None:
        self._settings = settings
        self._stopping = stopping
        self._admission = admission
        self.consumer: Consumer | None = None
        self.paused = False  # for backpressure
        # One wait for the stop, kept across fetches: not a task made and cancelled per
        # fetch (an idle worker goes round about once a second).
        self._stop_waiter: asyncio.Task[bool] | None = None

    async def next_records(self) -> list[Delivery]:
        """The next records, or none once the worker is told to stop.

        A fetch waits up to a second: each call wakes aiokafka's fetcher, which walks
        every assigned partition (ADR 036). A stop ends the wait at once; paused for
        backpressure, it goes round often, to resume as soon as the backlog has room."""
        assert self.consumer is not None
        wait = _PAUSED_FETCH_WAIT if self.paused else _FETCH_WAIT
        fetch = asyncio.ensure_future(
            self.consumer.fetch(timeout=wait, max_records=self._settings.fetch_max_records)
        )
        if self._stop_waiter is None:
            self._stop_waiter = asyncio.ensure_future(self._stopping.wait())
        stopped = self._stop_waiter
        await asyncio.wait((fetch, stopped), return_when=asyncio.FIRST_COMPLETED)
        if fetch.done():
            return fetch.result()
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fetch
        return []

    def close(self) -> None:
        """When the consume loop ends: the stop waiter outlives no loop."""
        if self._stop_waiter is not None:
            self._stop_waiter.cancel()
            self._stop_waiter = None

    def apply_backpressure(self) -> None:
        """Pause fetching while the backlog (accepted tasks waiting for a slot) is full.

        Reading on past the running tasks matters: steering and cancel messages for
        them sit in the same partitions, behind the tasks waiting for a slot. A waiting
        task is a decoded record in a heap, not a coroutine, so the backlog can be long.
        """
        assert self.consumer is not None
        waiting = self._admission.waiting
        if not self.paused and waiting >= self._settings.max_backlog:
            self.paused = True
            self.consumer.pause()
        elif self.paused and waiting < self._settings.max_backlog:
            self.paused = False
            self.consumer.resume()
