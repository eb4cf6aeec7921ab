"""A ticket asking for a large refund, through the support desk as separate `mesh run`
processes on the embedded broker: the refund waits for a person's approval, shows in
`mesh approvals list`, is approved with `mesh approvals approve`, and is issued once
(ADR 027). Expiry under both policies is covered in memory
(tests/memory/test_approvals_memory.py)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from agents.contracts import Customer, TicketCreated
from agents.refunds.store import issued
from mesh import Client
from mesh.settings import Settings
from schemas.tasks import TaskState, TaskStatus
from tests.conftest import ROOT, settings_env
from tests.e2e.processes import MeshProcess
from tests.helpers import eventually

# Four `mesh run` processes and two CLI runs: generous bounds for a loaded machine.
pytestmark = [pytest.mark.broker, pytest.mark.e2e, pytest.mark.timeout(240)]

AGENTS = ("triage", "knowledge", "orders", "refunds")


@pytest.fixture
def settings(broker_settings: Settings) -> Settings:
    return broker_settings.model_copy(update={"partitions": 1})


async def mesh_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`mesh <args>` as an operator runs it, without blocking the loop: (code, out, err)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mesh",
        *args,
        cwd=ROOT,
        env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    finally:
        if proc.returncode is None:
            proc.kill()
    return proc.returncode or 0, out.decode(), err.decode()


def the_refund(client: Client) -> TaskState | None:
    return next((s for s in client.view.tasks.values() if s.agent == "refunds"), None)


async def test_a_large_refund_waits_for_approval_and_is_issued(
    client: Client, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "refunds.sqlite3"
    monkeypatch.setenv("REFUNDS_DB", str(database))  # for `issued` below
    env = {"REFUNDS_DB": str(database), "REFUND_APPROVAL_THRESHOLD_CENTS": "10000"}
    processes = [
        MeshProcess(f"agents.{name}:agent", settings, tmp_path, name, extra_env=env)
        for name in AGENTS
    ]
    try:
        ticket = TicketCreated(
            ticket_id="T-refund-1",
            customer=Customer(email="alan@example.com"),
            subject="Refund for ORD-1016 please",
            body="The desk arrived scratched; I would like my money back.",
        )
        await client.publish(ticket, key=ticket.ticket_id)
        await eventually(
            lambda: (s := the_refund(client)) is not None and s.status is TaskStatus.WAITING,
            timeout=90,
            interval=0.2,
            what="the refund to wait for an approval",
        )
        refund = the_refund(client)
        assert refund is not None and refund.approval is not None
        triage = await client.wait(refund.root_task_id or "", timeout=30)
        assert triage.status is TaskStatus.SUCCEEDED, triage.error
        assert triage.result is not None
        assert "refund of EUR 520.00 for order ORD-1016" in triage.result["reply"]

        code, out, err = await mesh_cli(settings, "approvals", "list")
        assert code == 0, err
        assert refund.task_id in out and "refunds" in out
        assert "refund EUR 520.00 on ORD-1016 (ticket T-refund-1)" in out, out

        approve = ("approvals", "approve", refund.task_id, "--note", "scratched desk")
        code, out, err = await mesh_cli(settings, *approve, "--by", "ana")
        assert code == 0, err
        assert out.startswith(f"approved task {refund.task_id} (refunds)"), out
        done = await client.wait(refund.task_id, timeout=60)
        assert done.status is TaskStatus.SUCCEEDED, done.error
        result = done.result or {}
        assert result["status"] == "issued" and result["approved_by"] == "ana"
        assert result["note"] == "scratched desk"
        row = issued(result["refund_id"])
        assert row is not None and row.amount_cents == 52_000 and row.approved_by == "ana"
    finally:
        for process in processes:  # all at once: their shutdowns overlap
            process.proc.send_signal(signal.SIGTERM)
        for process in processes:
            process.stop()
