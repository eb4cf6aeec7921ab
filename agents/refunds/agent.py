"""`refunds`: issues a refund; one above the threshold first waits for a person.

Below the threshold (agents/refunds/policy.py) the refund is issued at once. Above
it the task asks for an approval (`ctx.request_approval`, ADR 027) and shows in the
approvals inbox (`mesh approvals list`, `GET /v1/approvals`) until someone approves or
rejects it, or it expires. The refund is issued only while the approval holds
(`ctx.step_if_approved`): an approval that expired before the refund could run does
not count. Issuing is a durable step keyed by `ctx.step_key`, so a re-run never
refunds twice.
"""

from __future__ import annotations

from agents.contracts import IssueRefund, RefundResult
from agents.refunds.policy import RefundPolicy, euros
from agents.refunds.store import issue_refund
from mesh import Agent, TaskContext
from mesh.approvals import ApprovalStatus

agent = Agent("refunds", description="Issues refunds; a person approves those above a threshold.")

POLICY = RefundPolicy.from_env()  # at import: a bad REFUND_APPROVAL_* stops `mesh run`


@agent.task
async def issue(ctx: TaskContext, request: IssueRefund) -> RefundResult:
    policy = POLICY
    result = RefundResult(
        ticket_id=request.ticket_id,
        order_id=request.order_id,
        amount_cents=request.amount_cents,
        status="issued",
        approval="not_needed",
    )
    if not policy.needs_approval(request.amount_cents):
        issued = await ctx.step("refund", issue_refund, ctx.step_key("refund"), request, None)
        return result.model_copy(update={"refund_id": issued.refund_id})
    approval = await ctx.request_approval(
        f"refund {euros(request.amount_cents)} on {request.order_id} (ticket {request.ticket_id})",
        expires_in=policy.expires_in,
        on_expiry=policy.on_expiry,
        details=request.model_dump(),
    )
    refund = await ctx.step_if_approved(
        approval, "refund", issue_refund, ctx.step_key("refund"), request, approval.by
    )
    decided = {"approved_by": approval.by, "note": approval.note}
    if refund is not None:
        return result.model_copy(
            update={"refund_id": refund.refund_id, "approval": "approved", **decided}
        )
    # Rejected; or expired, undecided or before the refund could run (`approved` then).
    status = "rejected" if approval.status is ApprovalStatus.REJECTED else "expired"
    return result.model_copy(update={"status": status, "approval": status, **decided})
