"""Human approval with an expiry (mesh/approvals.py, ADR 027), in memory: the `refunds`
reference agent and a gated test agent that waits between the approval and its step."""

from __future__ import annotations

import asyncio
import importlib
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agents.contracts import IssueRefund
from agents.refunds import agent as refunds
from agents.refunds.policy import RefundPolicy
from agents.refunds.store import issued
from mesh import Agent, ApprovalNotPending, TaskContext, TaskStatus
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas import REGISTRY, decode_envelope
from schemas.envelope import utc_now
from schemas.tasks import TaskState
from tests.helpers import eventually, read_all

refunds_module = importlib.import_module("agents.refunds.agent")


@REGISTRY.register("test.gated", 1)
class Gated(BaseModel):
    key: str  # unique per test: the gates and counters below are per process
    expires_in: float = 60.0
    on_expiry: Literal["halt", "continue"] = "continue"


DECIDED: dict[str, asyncio.Event] = {}  # set when `request_approval` has returned
GATES: dict[str, asyncio.Event] = {}  # the handler waits for it before its step
EFFECTS: Counter[str] = Counter()

gated = Agent("gated", description="asks for an approval, then waits for a gate")


@gated.task
async def gated_task(ctx: TaskContext, job: Gated) -> dict[str, Any]:
    approval = await ctx.request_approval(
        f"do {job.key}", expires_in=job.expires_in, on_expiry=job.on_expiry, details={"n": 1}
    )
    DECIDED.setdefault(job.key, asyncio.Event()).set()
    await GATES.setdefault(job.key, asyncio.Event()).wait()

    def effect() -> int:
        EFFECTS[job.key] += 1
        return EFFECTS[job.key]

    done = await ctx.step_if_approved(approval, "effect", effect)
    return {"status": approval.status, "by": approval.by, "effect": done}


@pytest.fixture(autouse=True)
def refunds_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REFUNDS_DB", str(tmp_path / "refunds.sqlite3"))
    yield


def policy(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    monkeypatch.setattr(refunds_module, "POLICY", RefundPolicy(**changes))


def refund(amount_cents: int, ticket: str = "T-1") -> IssueRefund:
    return IssueRefund(ticket_id=ticket, order_id="ORD-1007", amount_cents=amount_cents)


async def waiting_for_approval(m: TestMesh, task_id: str) -> TaskState:
    await eventually(
        lambda: any(s.task_id == task_id for s in m.client.approvals()),
        timeout=20,
        what="the task in the approvals inbox",
    )
    return await m.client.get(task_id)


async def event_kinds(m: TestMesh, task_id: str) -> list[str]:
    records = await read_all(m.transport, [m.client.publisher.topics.task_events])
    return [
        decode_envelope(r.value or b"").payload["kind"]
        for r in records
        if r.key == task_id.encode()
    ]


async def test_a_small_refund_is_issued_at_once(memory_settings: Settings) -> None:
    async with TestMesh(refunds, settings=memory_settings) as m:
        task_id = await m.client.submit("refunds", refund(5_000))
        state = await m.client.wait(task_id, timeout=20)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None and state.result["approval"] == "not_needed"
    row = issued(state.result["refund_id"])
    assert row is not None and row.amount_cents == 5_000 and row.approved_by is None


async def test_a_large_refund_waits_and_is_issued_once_approved(
    memory_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy(monkeypatch, threshold_cents=10_000, expires_in=3600)
    async with TestMesh(refunds, settings=memory_settings) as m:
        task_id = await m.client.submit("refunds", refund(25_000))
        state = await waiting_for_approval(m, task_id)
        asked = state.approval
        assert asked is not None and state.status is TaskStatus.WAITING
        assert asked.subject == "refund EUR 250.00 on ORD-1007 (ticket T-1)"
        assert asked.details["amount_cents"] == 25_000 and asked.on_expiry == "continue"
        assert timedelta(minutes=59) < asked.expires_at - asked.requested_at <= timedelta(hours=1)
        assert state.waiting_for == asked.subject
        await m.client.approve(task_id, by="ana", note="loyal customer")
        state = await m.client.wait(task_id, timeout=20)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.approval is None and state.waiting_for is None
    result = state.result or {}
    assert result["status"] == "issued" and result["approval"] == "approved"
    assert result["approved_by"] == "ana" and result["note"] == "loyal customer"
    row = issued(result["refund_id"])
    assert row is not None and row.approved_by == "ana" and row.amount_cents == 25_000


async def test_a_rejected_refund_is_not_issued(
    memory_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy(monkeypatch, expires_in=3600)
    async with TestMesh(refunds, settings=memory_settings) as m:
        task_id = await m.client.submit("refunds", refund(25_000))
        await waiting_for_approval(m, task_id)
        await m.client.reject(task_id, by="bo", note="already refunded by bank")
        state = await m.client.wait(task_id, timeout=20)
        kinds = await event_kinds(m, task_id)
    result = state.result or {}
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert result["status"] == "rejected" and result["approved_by"] == "bo"
    assert result["refund_id"] is None
    assert kinds.count("waiting") == 1 and kinds.count("resumed") == 1, kinds


@pytest.mark.parametrize("on_expiry", ["continue", "halt"])
async def test_an_undecided_refund_expires_by_its_policy(
    memory_settings: Settings, monkeypatch: pytest.MonkeyPatch, on_expiry: str
) -> None:
    policy(monkeypatch, expires_in=0.3, on_expiry=on_expiry)
    async with TestMesh(refunds, settings=memory_settings) as m:
        task_id = await m.client.submit("refunds", refund(25_000))
        state = await m.client.wait(task_id, timeout=20)
        kinds = await event_kinds(m, task_id)
    assert "approval_expired" in kinds, kinds
    assert state.approval is None and state.waiting_for is None
    if on_expiry == "continue":  # the handler goes on without the refund
        assert state.status is TaskStatus.SUCCEEDED, state.error
        result = state.result or {}
        assert result["status"] == "expired" and result["refund_id"] is None
    else:  # the task fails, saying why
        assert state.status is TaskStatus.FAILED
        assert state.error is not None and state.error.type == "ApprovalExpired"
        assert "expired at" in state.error.message and "undecided" in state.error.message


@pytest.mark.parametrize("on_expiry", ["continue", "halt"])
async def test_an_approval_that_expired_before_its_step_does_not_count(
    memory_settings: Settings, monkeypatch: pytest.MonkeyPatch, on_expiry: str
) -> None:
    key = f"recheck-{on_expiry}"
    async with TestMesh(gated, settings=memory_settings) as m:
        task_id = await m.client.submit("gated", {"key": key, "on_expiry": on_expiry})
        await waiting_for_approval(m, task_id)
        await m.client.approve(task_id, by="ana")
        await asyncio.wait_for(DECIDED.setdefault(key, asyncio.Event()).wait(), 20)
        # The clock moves past the expiry while the handler is between the approval
        # and its step (a slow run, a backlog, a crash and a late re-run).
        later = utc_now() + timedelta(hours=2)
        monkeypatch.setattr("mesh.approvals.utc_now", lambda: later)
        GATES.setdefault(key, asyncio.Event()).set()
        state = await m.client.wait(task_id, timeout=20)
    assert EFFECTS[key] == 0, "the step ran on an expired approval"
    if on_expiry == "continue":
        assert state.status is TaskStatus.SUCCEEDED, state.error
        assert state.result == {"status": "approved", "by": "ana", "effect": None}
    else:
        assert state.status is TaskStatus.FAILED
        assert state.error is not None and state.error.type == "ApprovalExpired"
        assert "step 'effect' not run" in state.error.message


async def test_a_rerun_after_the_answer_does_not_ask_again(memory_settings: Settings) -> None:
    """The first run is answered, then its worker stops with no grace before the step;
    the next worker's run replays the journaled decision: no second `waiting`."""
    key = "rerun"
    async with TestMesh(settings=memory_settings) as m:
        first = await m.add_worker(
            gated, memory_settings.model_copy(update={"shutdown_grace": 0, "instance_id": "a"})
        )
        task_id = await m.client.submit("gated", {"key": key})
        await waiting_for_approval(m, task_id)
        await m.client.approve(task_id, by="ana")
        await asyncio.wait_for(DECIDED.setdefault(key, asyncio.Event()).wait(), 20)
        await first.stop()
        m.workers.remove(first)
        GATES.setdefault(key, asyncio.Event()).set()
        await m.add_worker(gated, memory_settings.model_copy(update={"instance_id": "b"}))
        state = await m.client.wait(task_id, timeout=30)
        kinds = await event_kinds(m, task_id)
    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.instance == "b" and kinds.count("started") == 2, kinds
    assert kinds.count("waiting") == 1, f"asked again: {kinds}"
    assert state.result == {"status": "approved", "by": "ana", "effect": 1}
    assert EFFECTS[key] == 1


async def test_the_inbox_lists_approvals_of_every_agent_and_refuses_the_rest(
    memory_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy(monkeypatch, expires_in=3600)
    async with TestMesh(refunds, gated, settings=memory_settings) as m:
        refund_id = await m.client.submit("refunds", refund(25_000, ticket="T-9"))
        gated_id = await m.client.submit("gated", {"key": "inbox", "expires_in": 600})
        await waiting_for_approval(m, refund_id)
        await waiting_for_approval(m, gated_id)
        listed = [(s.task_id, s.agent) for s in m.client.approvals()]
        assert listed == [(gated_id, "gated"), (refund_id, "refunds")]  # soonest expiry first
        small = await m.client.submit("refunds", refund(100))
        await m.client.wait(small, timeout=20)
        with pytest.raises(ApprovalNotPending, match="waits for no approval"):
            await m.client.approve(small, by="ana")
        await m.client.cancel(gated_id)
        await m.client.reject(refund_id, by="ana")
        await m.client.wait(refund_id, timeout=20)
        await m.client.wait(gated_id, timeout=20)
        assert m.client.approvals() == []
