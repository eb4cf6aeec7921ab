"""Mesh-wide rate limits on the in-memory transport (ADR 024): the sharing suite
(tests/contract/rate_limit_behaviour.py), and a provider's 429 seen by one agent's
process pausing another's calls, which wait `MESH_MODEL_FALLBACK_WAIT` and move on to
their fallback model, through `ctx.chat` against the model double."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY as METRICS

from mesh import Agent, ModelSpec, RetryPolicy
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskState, TaskStatus
from tests.contract.model_behaviour import Ask, _ask
from tests.contract.rate_limit_behaviour import RateLimitBehaviour
from tests.helpers import eventually
from tests.memory.test_behaviour_memory import MemoryConfig
from tests.model_double import ModelDouble, Reply


@pytest.fixture
def limit_settings(memory_settings: Settings) -> Settings:
    return memory_settings.model_copy(
        update={"model_limits_refresh": 0.05, "model_limits_lease": 0.25}
    )


class TestMemoryRateLimits(MemoryConfig, RateLimitBehaviour):
    pass


limited_a = Agent("limited-a", retry=RetryPolicy(max_attempts=1), model=ModelSpec())
limited_b = Agent(
    "limited-b", retry=RetryPolicy(max_attempts=1), model=ModelSpec(fallbacks=["backup"])
)
limited_a.task(_ask)
limited_b.task(_ask)


def _waits(agent: str, model: str) -> float:
    labels = {"agent": agent, "model": model}
    return METRICS.get_sample_value("mesh_llm_rate_limit_wait_seconds_count", labels) or 0.0


async def test_a_429_seen_by_one_process_pauses_the_others(limit_settings: Settings) -> None:
    with ModelDouble() as double:
        settings = limit_settings.model_copy(
            update={
                "model_endpoint": double.url,
                "model_name": "small",
                "model_limits": Settings(model_limits={"small": {"rpm": 600}}).model_limits,
                "model_fallback_wait": 1.0,
            }
        )
        async with TestMesh(limited_a, limited_b, settings=settings) as mesh:

            async def ask(agent: str) -> TaskState:
                task_id = await mesh.client.submit(agent, Ask(question="q").model_dump())
                return await mesh.client.wait(task_id, timeout=20)

            assert (await ask("limited-b")).status is TaskStatus.SUCCEEDED  # b holds a lease
            double.script(Reply(status=429, retry_after=30))
            assert (await ask("limited-a")).status is TaskStatus.DEAD_LETTERED  # the 429
            resource = f"model:small@{double.url}"
            quotas = [w.rate_limits for w in mesh.workers if w.rate_limits is not None]
            (worker_b,) = mesh.workers_of("limited-b")
            assert worker_b.rate_limits is not None
            b = worker_b.rate_limits.client
            # The resource's allocator, in whichever process owns its partition.
            ledger = next(lg for q in quotas if (lg := q.allocator.ledger(resource)))
            await eventually(lambda: ledger.paused_until > time.monotonic() + 20, timeout=5)
            gate = b.gate(resource)
            assert gate is not None
            # b never sees a 429 itself: the allocator pushes the pause to b when b holds
            # a lease, or sends it with b's next grant when b has none.
            await eventually(
                lambda: (
                    gate.paused_until > time.monotonic() + 20
                    or (not gate.leased(time.monotonic()) and b.client_id not in ledger.clients)
                ),
                timeout=5,
                what="b paused, or forgotten by the allocator",
            )
            waits, sent = _waits("limited-b", "small"), double.calls("small")
            third = await ask("limited-b")  # waits out MESH_MODEL_FALLBACK_WAIT on "small"
            assert third.result is not None and third.result["model"] == "backup", third.error
            assert double.calls("small") == sent  # b sent nothing to "small"
            assert _waits("limited-b", "small") == waits + 1
            assert gate.paused_until > time.monotonic() + 20
