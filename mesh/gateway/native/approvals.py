"""The approvals inbox under `/v1/approvals` (ADR 027): what waits for a person's
approval across agents, and answering it.

Answering is a steering message carrying the decision (mesh/approvals.py). 404: no
such task; 409: it waits for no approval, or its approval has expired; 422: a body
field does not fit (named in `errors`).

Who decided (`by`, ADR 046): with auth on, the authenticated caller's name; a `by` in
the body is kept only as on whose behalf ("console on behalf of 'ada'"). With auth off
nobody is authenticated: the body's `by` as it is, else "anonymous (auth off)".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from mesh.approvals import OnExpiry, pending_approvals
from mesh.errors import ApprovalNotPending
from mesh.gateway._deps import GatewayDep
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.auth import ANONYMOUS, Principal, decided_by
from mesh.gateway.native.routes import Operator, Reader, visible_task
from schemas.tasks import TaskState

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], route_class=JsonBodyRoute)


class PendingApprovalDocument(BaseModel):
    """A task that waits for a person's approval: what it asks, and until when."""

    task_id: str
    agent: str
    root_task_id: str | None
    name: str = Field(description="The approval within its task.")
    subject: str = Field(description="What is to be approved.")
    details: dict[str, Any]
    requested_at: datetime
    expires_at: datetime = Field(description="Undecided by then, it expires.")
    on_expiry: OnExpiry = Field(description="halt: the task fails; continue: it runs on.")


class ApprovalInbox(BaseModel):
    approvals: list[PendingApprovalDocument] = Field(description="Soonest expiry first.")


class DecideApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Who decides. With auth on, the caller's name is recorded and this, "
        "if given, only as on whose behalf; with auth off this as it is.",
    )
    note: str = Field(default="", max_length=2000, description="Why; kept with the decision.")


class ApprovalAnswered(BaseModel):
    task_id: str
    decision: Literal["approved", "rejected"]


def _document(state: TaskState) -> PendingApprovalDocument:
    asked = state.approval
    assert asked is not None
    return PendingApprovalDocument(
        task_id=state.task_id,
        agent=state.agent,
        root_task_id=state.root_task_id,
        **asked.model_dump(),
    )


@router.get("", response_model=ApprovalInbox)
async def list_approvals(gateway: GatewayDep, caller: Reader) -> ApprovalInbox:
    """Tasks of every agent that wait for a person's approval, soonest expiry first
    (the caller's tenant's, when the gateway authenticates callers)."""
    waiting = [s for s in pending_approvals(gateway.view) if caller.sees(s.tenant)]
    return ApprovalInbox(approvals=[_document(s) for s in waiting])


async def _answer(
    gateway: GatewayDep,
    task_id: str,
    body: DecideApproval,
    decision: Literal["approved", "rejected"],
    caller: Principal,
) -> ApprovalAnswered:
    visible_task(gateway, task_id, caller)
    decide = gateway.client.approve if decision == "approved" else gateway.client.reject
    by = decided_by(caller, body.by, default=ANONYMOUS.name)
    try:
        await decide(task_id, by=by, note=body.note)
    except ApprovalNotPending as exc:
        raise ProblemError(409, "task_id", str(exc)) from None
    return ApprovalAnswered(task_id=task_id, decision=decision)


@router.post(
    "/{task_id}/approve",
    status_code=202,
    response_model=ApprovalAnswered,
    responses=problem_responses(404, 409, 503),
)
async def approve(
    task_id: str, body: DecideApproval, gateway: GatewayDep, caller: Operator
) -> ApprovalAnswered:
    """Approve what the task waits for; it runs on with the approval."""
    return await _answer(gateway, task_id, body, "approved", caller)


@router.post(
    "/{task_id}/reject",
    status_code=202,
    response_model=ApprovalAnswered,
    responses=problem_responses(404, 409, 503),
)
async def reject(
    task_id: str, body: DecideApproval, gateway: GatewayDep, caller: Operator
) -> ApprovalAnswered:
    """Reject what the task waits for; it runs on without it."""
    return await _answer(gateway, task_id, body, "rejected", caller)
