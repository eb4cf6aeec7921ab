"""Cost attribution across crashes, reported (issue 16): the scenario of
tests/faults/test_research_cost_killed.py (which asserts it), run once here so that the
numbers sit with the other claims.

    python -m tests.bench claims-cost

A research workflow (a plan, 3 researchers of 2 model calls, a synthesis) whose
supervisor and researcher processes are SIGKILLed mid-run (tests/faults/research_cost.py);
reported: the model's requests for it against its logical calls, the per-subagent
costs, their sum with the supervisor's own against the workflow's total, and that
total against the requests times the price of one call.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from mesh.client import Client
from mesh.settings import Settings
from mesh.transport.kafka.adapter import KafkaTransport
from tests.bench.common import Options, Report
from tests.faults.research_cost import CALLS, kill_mid_workflow
from tests.model_double import ModelDouble


async def run(settings: Settings, options: Options) -> Report:
    fast_failover = {"session_timeout": 3.0, "heartbeat_interval": 0.5, "rebalance_grace": 1.0}
    settings = settings.model_copy(update={"partitions": 1, **fast_failover})
    topic = f"research-{uuid.uuid4().hex[:8]}"
    with ModelDouble() as double, tempfile.TemporaryDirectory() as logs:
        async with Client(KafkaTransport(settings), settings, owns_transport=True) as client:
            outcome = await kill_mid_workflow(settings, client, double, Path(logs), topic)
    report = Report("claims_cost")
    report.add("killed", len(outcome.victims), "the supervisor's and researcher 0's processes")
    report.add("model_requests", outcome.requests, f"logical calls: {CALLS}")
    # In micro-USD: one call of the double costs 20 of them at the price the scenario sets.
    report.add("supervisor_uusd", outcome.own_usd * 1e6, "its plan and synthesis")
    for n, usd in enumerate(outcome.subagent_usd):
        killed = "researcher 0, killed between its calls" if n == 0 else ""
        report.add(f"subagent{n}_uusd", usd * 1e6, killed)
    parts = outcome.own_usd + sum(outcome.subagent_usd)
    report.add("parts_uusd", parts * 1e6, "supervisor + subagents")
    report.add("total_uusd", outcome.total_usd * 1e6, "the workflow's tree, as accounted")
    report.add("paid_uusd", outcome.paid_usd * 1e6, "the model's requests x one call's price")
    report.add("parts_over_total", parts / outcome.total_usd, "1.0")
    report.add("total_over_paid", outcome.total_usd / outcome.paid_usd, "1.0: none counted twice")
    return report
