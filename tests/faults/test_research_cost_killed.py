"""Cost attribution across crashes (issue 16): a research workflow's per-subagent costs
add up to its total, and SIGKILLed workers re-running their tasks count no replayed
call twice (the scenario: tests/faults/research_cost.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskStatus
from tests.faults.research_cost import CALL_USD, CALLS, CALLS_EACH, SUBAGENTS, kill_mid_workflow
from tests.model_double import ModelDouble

pytestmark = [pytest.mark.broker, pytest.mark.e2e]


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    # As tests/faults/test_model_calls_killed.py: one partition, half the test session.
    fast_failover = {"session_timeout": 3.0, "heartbeat_interval": 0.5, "rebalance_grace": 1.0}
    return broker_settings.model_copy(update={"partitions": 1, **fast_failover})


@pytest.fixture
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


async def test_killed_workers_count_each_paid_call_once(
    settings: Settings, client: Client, double: ModelDouble, tmp_path: Path
) -> None:
    topic = f"research-{uuid.uuid4().hex[:8]}"
    outcome = await kill_mid_workflow(settings, client, double, tmp_path, topic)

    assert outcome.root.status is TaskStatus.SUCCEEDED, outcome.root.error
    assert outcome.root.instance not in outcome.victims  # a standby finished it
    assert [s.status for s in outcome.subagents] == [TaskStatus.SUCCEEDED] * SUBAGENTS
    # The model was asked once per logical call: the plan and researcher 0's first
    # call were replayed from the journal after the kill.
    assert outcome.requests == CALLS
    assert [sum(u.calls for u in s.usage) for s in outcome.subagents] == [CALLS_EACH] * SUBAGENTS
    assert sum(u.calls for u in outcome.root.usage) == 2  # its plan and its synthesis
    # The parts add up to the workflow's total, and the total is what the model was paid.
    assert outcome.own_usd + sum(outcome.subagent_usd) == pytest.approx(outcome.total_usd)
    assert outcome.subagent_usd == pytest.approx([CALLS_EACH * CALL_USD] * SUBAGENTS)
    assert outcome.total_usd == pytest.approx(outcome.paid_usd)
    assert outcome.paid_usd == pytest.approx(CALLS * CALL_USD)
