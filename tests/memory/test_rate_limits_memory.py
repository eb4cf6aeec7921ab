"""Mesh-wide rate limits on the in-memory transport (ADR 024): processes' quota
clients and allocators on one transport share a resource's capacity by demand, and
a provider's 429 seen by one pauses the others.

Counts of admitted calls and grant states are asserted, never timings, except an
upper bound (a slow machine only admits fewer calls).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from mesh import Agent, ModelSpec, RetryPolicy
from mesh.quota import Quota
from mesh.settings import Settings
from mesh.testing import MemoryTransport, TestMesh
from schemas.tasks import TaskStatus
from tests.contract.model_behaviour import Ask, _ask
from tests.helpers import eventually
from tests.model_double import ModelDouble, Reply

RESOURCE = "model:m@http://double"
PER_MINUTE = 6000.0  # 100 requests a second


@pytest.fixture
def limit_settings(memory_settings: Settings) -> Settings:
    return memory_settings.model_copy(
        update={"model_limits_refresh": 0.05, "model_limits_lease": 0.25}
    )


@pytest.fixture
async def processes(limit_settings: Settings) -> AsyncIterator[tuple[Quota, Quota]]:
    transport = MemoryTransport()
    await transport.start()
    one, two = Quota(transport, limit_settings), Quota(transport, limit_settings)
    await one.start()
    await two.start()
    yield one, two
    await two.stop()
    await one.stop()
    await transport.stop()


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


async def test_two_busy_processes_share_the_limit_and_a_busy_one_takes_an_idle_ones_share(
    processes: tuple[Quota, Quota],
) -> None:
    one, two = Caller(processes[0]), Caller(processes[1])
    began = time.monotonic()
    one.start()
    two.start()
    try:
        await eventually(lambda: one.admitted + two.admitted >= 200, timeout=20, what="calls")
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
        await eventually(lambda: one.admitted >= counted + 100, timeout=10, what="more calls")
    finally:
        await one.stop()
        await two.stop()


limited_a = Agent("limited-a", retry=RetryPolicy(max_attempts=1), model=ModelSpec())
limited_b = Agent("limited-b", retry=RetryPolicy(max_attempts=1), model=ModelSpec())
limited_a.task(_ask)
limited_b.task(_ask)


async def test_a_429_seen_by_one_process_pauses_the_others(limit_settings: Settings) -> None:
    with ModelDouble() as double:
        settings = limit_settings.model_copy(
            update={
                "model_endpoint": double.url,
                "model_name": "small",
                "model_limits": Settings(model_limits={"small": {"rpm": 600}}).model_limits,
                "model_fallback_wait": 0.5,
            }
        )
        async with TestMesh(limited_a, limited_b, settings=settings) as mesh:

            async def ask(agent: str) -> TaskStatus:
                task_id = await mesh.client.submit(agent, Ask(question="q").model_dump())
                return (await mesh.client.wait(task_id, timeout=20)).status

            assert await ask("limited-b") is TaskStatus.SUCCEEDED  # b holds a lease
            double.script(Reply(status=429, retry_after=30))
            assert await ask("limited-a") is TaskStatus.DEAD_LETTERED  # the 429
            (worker_b,) = mesh.workers_of("limited-b")
            quota = worker_b.runner.models.limits._quota
            gate = quota.gate(f"model:small@{double.url}") if quota else None
            assert gate is not None
            # b never sees a 429 itself: the allocator pushes the pause to b's live lease
            # (or, once that lapsed, sends it with b's next grant).
            await eventually(
                lambda: (
                    gate.paused_until > time.monotonic() + 20 or not gate.leased(time.monotonic())
                ),
                timeout=5,
                what="b paused or without a lease",
            )
            assert await ask("limited-b") is TaskStatus.DEAD_LETTERED  # waited, never sent
            assert double.calls() == 2
            assert gate.paused_until > time.monotonic() + 20
