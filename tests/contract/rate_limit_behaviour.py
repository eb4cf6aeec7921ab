"""Mesh-wide rate limits (ADR 024) on a transport: two processes' quota clients and
allocators share a resource's capacity by demand.

Counts of admitted calls and grant states are asserted, never timings, except an
upper bound (a slow machine only admits fewer calls). Subclasses provide
`transport` and `settings`, as for `RuntimeBehaviour`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from mesh.quota import Quota
from mesh.settings import Settings
from mesh.transport.base import Transport
from tests.helpers import eventually

RESOURCE = "model:m@http://double"
PER_MINUTE = 6000.0  # 100 requests a second


class Caller:
    """Calls as fast as its process admits them, counting the admitted."""

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self.admitted = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._call())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def grant(self) -> float:
        gate = self.quota.client.gate(RESOURCE)
        return gate.granted.get("requests", 0.0) if gate is not None else 0.0

    async def _call(self) -> None:
        while True:
            await self.quota.client.acquire(
                RESOURCE, capacity={"requests": PER_MINUTE}, amounts={"requests": 1}
            )
            self.admitted += 1


class RateLimitBehaviour:
    @pytest.fixture
    async def processes(
        self, transport: Transport, settings: Settings
    ) -> AsyncIterator[tuple[Quota, Quota]]:
        """Two processes' quota services (one transport can hold both: each has its own
        consumers, so its own group membership)."""
        update = {"model_limits_refresh": 0.1, "model_limits_lease": 0.5}
        settings = settings.model_copy(update=update)
        one, two = Quota(transport, settings), Quota(transport, settings)
        await one.start()
        await two.start()
        yield one, two
        await two.stop()
        await one.stop()

    async def test_two_busy_processes_share_the_limit_and_a_busy_one_takes_an_idle_ones_share(
        self, processes: tuple[Quota, Quota]
    ) -> None:
        one, two = Caller(processes[0]), Caller(processes[1])
        began = time.monotonic()
        one.start()
        two.start()
        try:
            await eventually(lambda: one.admitted + two.admitted >= 120, timeout=20, what="calls")
            elapsed = time.monotonic() - began
            total = one.admitted + two.admitted
            # Never above the limit (plus one second's burst per process) ...
            assert total <= PER_MINUTE / 60 * elapsed + 2 * PER_MINUTE / 60 + 5
            # ... and shared: neither starves.
            assert min(one.admitted, two.admitted) >= total / 4, (one.admitted, two.admitted)
            await eventually(lambda: 0.4 <= one.grant() / PER_MINUTE <= 0.6, timeout=5, what="half")
            await two.stop()  # now idle: its share goes to the busy one
            await eventually(lambda: one.grant() >= 0.95 * PER_MINUTE, timeout=5, what="all of it")
            await eventually(lambda: two.grant() == 0, timeout=5, what="the idle one's grant ends")
            counted = one.admitted
            await eventually(lambda: one.admitted >= counted + 60, timeout=10, what="more calls")
        finally:
            await one.stop()
            await two.stop()
