"""Human approval with an expiry (ADR 027): `ctx.request_approval`, `ctx.step_if_approved`
and the approvals inbox.

A handler asks a person before an effect that needs one, then runs the effect only if
the approval still holds when it is about to happen::

    approval = await ctx.request_approval(
        "refund EUR 250.00 on ORD-1007", expires_in=24 * 3600, on_expiry="continue",
        details={"order_id": "ORD-1007", "amount_cents": 25000},
    )
    refund = await ctx.step_if_approved(approval, "refund", issue_refund, ...)

While it waits the task is `waiting`, its state carrying the `PendingApproval` (what
`mesh approvals list` and `GET /v1/approvals` show across agents). A person answers
with `mesh approvals approve|reject TASK` or `POST /v1/approvals/{task}/approve|reject`:
a steering message whose data holds an `ApprovalDecision`. Other steering messages
that arrive meanwhile are kept for the handler.

Expiry: undecided at `expires_at`, the approval is `expired`. With `on_expiry="halt"`
the task fails (`ApprovalExpired`); with "continue" the handler gets the expired
`Approval` and goes on without the effect. An approval is also checked again when its
effect is to run: `step_if_approved` runs the step only while the approval holds
(approved, before `expires_at`); one that expired meanwhile applies `on_expiry` the same
way. A step journaled by an earlier run is replayed whatever the time: it happened
while the approval held.

Durable: the request (with its expiry) and the decision are journaled steps
(`<name>/asked`, `<name>/decision`). A re-run after a crash waits until the same
expiry, and one after the answer does not ask again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast, overload

from pydantic import BaseModel, ConfigDict, ValidationError

from mesh.errors import ApprovalExpired, ApprovalNotPending, SetupError
from schemas.envelope import utc_now
from schemas.tasks import (
    ApprovalDecision,
    EventKind,
    PendingApproval,
    Steer,
    TaskState,
    TaskStatus,
)

if TYPE_CHECKING:
    from mesh.context import TaskContext
    from mesh.views.tasks import TaskView

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

OnExpiry = Literal["halt", "continue"]
DECISION_KEY = "approval"  # where a steering message's data carries an `ApprovalDecision`


class ApprovalStatus(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class Approval(BaseModel):
    """How a request for approval ended: who decided what, and when it expires."""

    model_config = ConfigDict(frozen=True)

    name: str
    subject: str
    status: ApprovalStatus
    by: str | None = None  # who answered (None: nobody, it expired)
    note: str = ""
    requested_at: datetime
    decided_at: datetime  # when answered, or found expired
    expires_at: datetime
    on_expiry: OnExpiry

    @property
    def approved(self) -> bool:
        return self.status is ApprovalStatus.APPROVED

    def holds(self, at: datetime | None = None) -> bool:
        """Whether the approval allows its effect at `at` (default: now)."""
        return self.approved and (at or utc_now()) < self.expires_at


class TaskApprovals:
    """`TaskContext`'s `request_approval` and `step_if_approved`: methods of the context
    itself, not an object per task (every waiting task holds its context; ADR 049)."""

    __slots__ = ()

    def _context(self) -> TaskContext:
        return cast("TaskContext", self)

    async def request_approval(
        self,
        subject: str,
        *,
        expires_in: float,
        on_expiry: OnExpiry = "halt",
        details: Mapping[str, Any] | None = None,
        name: str = "approval",
    ) -> Approval:
        """Ask a person to approve `subject`; wait for the answer or the expiry.

        Args:
            subject: what is to be approved, in a person's words (the inbox shows it).
            expires_in: seconds from the first ask until the approval expires
                (undecided, or decided and not yet acted on).
            on_expiry: "halt": the task fails with `ApprovalExpired`; "continue":
                the expired `Approval` is returned and the handler goes on.
            details: JSON the approver sees with the subject (amounts, ids).
            name: the approval within the task; give each of several its own.

        Returns:
            The approval: approved or rejected (by whom, when, with a note), or
            expired (with "continue").

        Raises:
            ApprovalExpired: it expired undecided and `on_expiry` is "halt".
            SetupError: `expires_in` is not > 0, `on_expiry` is neither value, or
                `name` was asked for already in this run.
        """
        if not expires_in > 0:
            raise SetupError(
                f"request_approval: expires_in must be > 0 seconds, got {expires_in!r}"
            )
        if on_expiry not in ("halt", "continue"):
            raise SetupError(
                f"request_approval: on_expiry must be 'halt' or 'continue', got {on_expiry!r}"
            )
        facts, ctx = dict(details or {}), self._context()
        asked = await ctx.step(f"{name}/asked", _asked, name, subject, facts, expires_in, on_expiry)
        decided, _ = ctx._journal.step_result(f"{name}/decision")
        answer = None if decided else await self._wait_for_decision(asked)
        approval = await ctx.step(f"{name}/decision", _decided, asked, answer)
        if approval.status is ApprovalStatus.EXPIRED and approval.on_expiry == "halt":
            raise ApprovalExpired(_expired(approval, "undecided"))
        return approval

    @overload
    async def step_if_approved(
        self,
        approval: Approval,
        name: str,
        fn: Callable[P, Awaitable[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T | None: ...

    @overload
    async def step_if_approved(
        self,
        approval: Approval,
        name: str,
        fn: Callable[P, T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T | None: ...

    async def step_if_approved(
        self, approval: Approval, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        """`ctx.step(name, fn, ...)` if `approval` holds now; else None.

        None when it was rejected or expired, or when it was approved and has expired
        since (`approval.approved` tells these apart): then its `on_expiry` applies,
        "halt" raising `ApprovalExpired`. A step an earlier run completed is replayed.
        """
        ctx = self._context()
        done, _ = ctx._journal.step_result(name)
        if done:
            return await ctx.step(name, fn, *args, **kwargs)
        if not approval.approved:
            return None
        if not approval.holds():
            await ctx._recorder.record(EventKind.APPROVAL_EXPIRED, approval=_pending(approval))
            if approval.on_expiry == "halt":
                raise ApprovalExpired(_expired(approval, f"approved, but step {name!r} not run"))
            return None
        return await ctx.step(name, fn, *args, **kwargs)

    async def _wait_for_decision(self, asked: PendingApproval) -> ApprovalDecision | None:
        """Show the task waiting for the approval; the decision, or None at its expiry."""
        ctx = self._context()
        recorder = ctx._recorder
        if _seconds_until(asked.expires_at) <= 0:  # a re-run after the expiry
            await recorder.record(EventKind.APPROVAL_EXPIRED, approval=asked)
            return None
        await recorder.record(EventKind.WAITING, waiting_for=asked.subject, approval=asked)
        others: list[Steer] = []
        answer: tuple[Steer, ApprovalDecision] | None = None
        try:
            while answer is None and (left := _seconds_until(asked.expires_at)) > 0:
                steer = await ctx.next_steer(timeout=left)
                if steer is None:
                    break  # expired
                decision = _decision_in(steer, asked.name)
                if decision is None:
                    others.append(steer)
                else:
                    answer = (steer, decision)
        finally:
            for steer in others:  # not an answer: the handler reads them later
                ctx._deliver_steer(steer)
        ctx.last_activity = utc_now()
        if answer is None:
            await recorder.record(EventKind.APPROVAL_EXPIRED, approval=asked)
            return None
        await recorder.record(EventKind.RESUMED, steer=answer[0])
        return answer[1]


def _seconds_until(when: datetime) -> float:
    return (when - utc_now()).total_seconds()


def _asked(
    name: str, subject: str, details: dict[str, Any], expires_in: float, on_expiry: OnExpiry
) -> PendingApproval:
    now = utc_now()
    return PendingApproval(
        name=name,
        subject=subject,
        details=details,
        requested_at=now,
        expires_at=now + timedelta(seconds=expires_in),
        on_expiry=on_expiry,
    )


def _decided(asked: PendingApproval, answer: ApprovalDecision | None) -> Approval:
    common = asked.model_dump(include={"name", "subject", "requested_at", "expires_at"})
    if answer is None:
        status, by, note, at = ApprovalStatus.EXPIRED, None, "", utc_now()
    else:
        status, by, note, at = ApprovalStatus(answer.decision), answer.by, answer.note, answer.at
    return Approval(
        **common, status=status, by=by, note=note, decided_at=at, on_expiry=asked.on_expiry
    )


def _pending(approval: Approval) -> PendingApproval:
    fields = {"name", "subject", "requested_at", "expires_at", "on_expiry"}
    return PendingApproval.model_validate(approval.model_dump(include=fields))


def _expired(approval: Approval, how: str) -> str:
    return (
        f"approval {approval.name!r} ({approval.subject!r}) expired at "
        f"{approval.expires_at.isoformat(timespec='seconds')} ({how}); on_expiry='halt'"
    )


def _decision_in(steer: Steer, name: str) -> ApprovalDecision | None:
    raw = steer.data.get(DECISION_KEY)
    if raw is None:
        return None
    try:
        decision = ApprovalDecision.model_validate(raw)
    except ValidationError as exc:
        log.warning("ignoring a malformed approval decision: %s", exc)
        return None
    return decision if decision.name == name else None


# -- the inbox: what waits, and answering it (`Client.approvals|approve|reject`) --------


def pending_approvals(view: TaskView) -> list[TaskState]:
    """Tasks of every agent that wait for an approval, soonest expiry first."""
    waiting = [
        state
        for state in view.tasks.values()
        if state.status is TaskStatus.WAITING and state.approval is not None
    ]
    return sorted(waiting, key=lambda s: s.approval.expires_at if s.approval else s.updated_at)


def decision_steer(
    state: TaskState, decision: Literal["approved", "rejected"], *, by: str, note: str
) -> Steer:
    """The steering message that answers `state`'s pending approval.

    Raises:
        ApprovalNotPending: the task does not wait for an approval, or it has expired.
    """
    pending = state.approval
    if state.status is not TaskStatus.WAITING or pending is None:
        raise ApprovalNotPending(
            f"task {state.task_id} ({state.agent}) is {state.status} and waits for no "
            "approval; `mesh approvals list` shows those that do"
        )
    now = utc_now()
    if now >= pending.expires_at:
        raise ApprovalNotPending(
            f"the approval of task {state.task_id} ({pending.subject!r}) expired at "
            f"{pending.expires_at.isoformat(timespec='seconds')}; it can no longer be answered"
        )
    answer = ApprovalDecision(name=pending.name, decision=decision, by=by, note=note, at=now)
    return Steer(text=note or decision, data={DECISION_KEY: answer.model_dump(mode="json")})
