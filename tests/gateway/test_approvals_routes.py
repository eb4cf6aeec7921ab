"""The approvals inbox of the gateway (`/v1/approvals`, ADR 027): listing what waits,
approving and rejecting it, and the 4xx that name what is wrong. In memory, with the
`refunds` reference agent behind it."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.contracts import IssueRefund
from agents.refunds import agent as refunds
from agents.refunds.policy import RefundPolicy
from mesh.settings import Settings
from schemas import Envelope
from schemas.envelope import new_id, utc_now
from schemas.tasks import TASK_STATE, PendingApproval, TaskState, TaskStatus
from tests.gateway.memory_support import MemoryGateway, memory_gateway
from tests.helpers import eventually


@pytest.fixture(autouse=True)
def refund_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REFUNDS_DB", str(tmp_path / "refunds.sqlite3"))
    module = importlib.import_module("agents.refunds.agent")
    monkeypatch.setattr(module, "POLICY", RefundPolicy(threshold_cents=10_000, expires_in=600))
    yield


async def submit_refund(mesh: MemoryGateway, amount_cents: int) -> str:
    refund = IssueRefund(ticket_id="T-7", order_id="ORD-1016", amount_cents=amount_cents)
    return await mesh.gateway.client.submit("refunds", refund)


async def inbox(mesh: MemoryGateway) -> list[dict[str, Any]]:
    response = await mesh.http.get("/v1/approvals")
    assert response.status_code == 200, response.text
    approvals: list[dict[str, Any]] = response.json()["approvals"]
    return approvals


def problem_fields(response: Any) -> list[str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return [error["field"] for error in response.json()["errors"]]


async def test_a_waiting_refund_is_listed_and_approved(memory_settings: Settings) -> None:
    async with memory_gateway(refunds, settings=memory_settings) as mesh:
        task_id = await submit_refund(mesh, 52_000)
        await eventually(
            lambda: task_id in {s.task_id for s in mesh.gateway.client.approvals()},
            timeout=20,
            what="the refund in the inbox",
        )
        [listed] = await inbox(mesh)
        assert listed["task_id"] == task_id and listed["agent"] == "refunds"
        assert listed["subject"] == "refund EUR 520.00 on ORD-1016 (ticket T-7)"
        assert listed["details"]["amount_cents"] == 52_000
        assert listed["on_expiry"] == "continue" and listed["expires_at"] > listed["requested_at"]

        answered = await mesh.http.post(
            f"/v1/approvals/{task_id}/approve", json={"by": "ana", "note": "ok"}
        )
        assert answered.status_code == 202, answered.text
        assert answered.json() == {"task_id": task_id, "decision": "approved"}
        state = await mesh.gateway.client.wait(task_id, timeout=20)
        assert state.result is not None and state.result["approved_by"] == "ana"
        assert state.result["status"] == "issued"
        assert await inbox(mesh) == []
        # Answered already: the task waits for no approval any more.
        again = await mesh.http.post(f"/v1/approvals/{task_id}/reject", json={"by": "bo"})
        assert again.status_code == 409 and problem_fields(again) == ["task_id"]
        assert "waits for no approval" in again.json()["detail"]


async def test_answers_name_what_is_wrong(memory_settings: Settings) -> None:
    async with memory_gateway(settings=memory_settings) as mesh:
        task_id = new_id()
        unknown = await mesh.http.post(f"/v1/approvals/{task_id}/approve", json={"by": "ana"})
        assert unknown.status_code == 404 and problem_fields(unknown) == ["task_id"]
        # The body is checked first, whatever the task; `by` may be left out (ADR 046).
        no_one = await mesh.http.post(f"/v1/approvals/{task_id}/approve", json={})
        assert no_one.status_code == 404 and problem_fields(no_one) == ["task_id"]
        blank = await mesh.http.post(f"/v1/approvals/{task_id}/reject", json={"by": ""})
        assert blank.status_code == 422 and problem_fields(blank) == ["body.by"]
        extra = await mesh.http.post(
            f"/v1/approvals/{task_id}/approve", json={"by": "ana", "when": "now"}
        )
        assert extra.status_code == 422 and problem_fields(extra) == ["body.when"]


async def test_an_expired_approval_can_no_longer_be_answered(memory_settings: Settings) -> None:
    """A task still shown waiting (its worker is down) whose approval has expired: 409."""
    async with memory_gateway(settings=memory_settings) as mesh:
        now = utc_now()
        asked = PendingApproval(
            name="approval",
            subject="refund EUR 900.00 on ORD-1023",
            requested_at=now - timedelta(hours=25),
            expires_at=now - timedelta(hours=1),
            on_expiry="halt",
        )
        state = TaskState(
            task_id=new_id(),
            agent="refunds",
            type="refunds.issue",
            status=TaskStatus.WAITING,
            waiting_for=asked.subject,
            approval=asked,
            created_at=asked.requested_at,
            updated_at=asked.requested_at,
        )
        publisher = mesh.gateway.client.publisher
        envelope = Envelope(
            type=TASK_STATE,
            task_id=state.task_id,
            source=publisher.source,
            payload=state.model_dump(mode="json"),
        )
        await publisher.send(publisher.topics.task_state, envelope, key=state.task_id)
        await mesh.gateway.view.catch_up()

        [listed] = await inbox(mesh)  # still listed: the worker has not said otherwise
        assert listed["task_id"] == state.task_id
        late = await mesh.http.post(f"/v1/approvals/{state.task_id}/approve", json={"by": "ana"})
        assert late.status_code == 409 and problem_fields(late) == ["task_id"]
        assert "expired at" in late.json()["detail"]
