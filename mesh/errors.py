"""Every error the mesh raises on purpose.

Hierarchy::

    MeshError
    ├── SetupError           an agent definition or a handler's use of the API is wrong
    ├── SettingsError        a MESH_* setting is invalid (raised at start-up)
    ├── UsageError           bad command-line input (`mesh ...` exits 2)
    ├── BrokerStartError     the embedded broker did not start (mesh.dev.broker)
    ├── ModelStartError      the embedded model server did not start (mesh.dev.model_server)
    ├── WorkerFailed         a worker gave up on a write and stopped (exit status 1)
    ├── TransportError       the broker refused or failed an operation
    │   ├── UnknownTopic     publishing to a topic that was never created
    │   └── BrokerUnreachable  a command could not connect (names the broker and the fix)
    ├── UnknownAgent         no agent type of that name has registered
    ├── InvalidInput         a task input or event payload fails its schema
    ├── TaskNotFound         no task with that id is known
    ├── TaskEnded            steering or cancelling a task that has already ended
    ├── ApprovalNotPending   answering a task that waits for no approval, or too late
    ├── ApprovalExpired      an approval expired with `on_expiry="halt"`: the task fails
    ├── DeadLetterError      no dead letter with that id, or a purge would hide others
    ├── StepTooLarge         a durable step's result is over MESH_MAX_STEP_BYTES
    ├── ModelError           a model call failed (`ctx.chat`, mesh/models)
    │   ├── ModelUnavailable   no answer: connection, timeout or a 5xx (fallbacks tried)
    │   ├── ModelRateLimited   429 (also a `Retry`: the task runs again after retry_after)
    │   ├── ModelRefused       the provider refused the request (4xx: bad request, key)
    │   ├── ModelOutputInvalid the answer does not fit the output schema, twice
    │   ├── ModelCallLimitExceeded  a task's calls past MESH_MODEL_MAX_CALLS_PER_TASK
    │   ├── BudgetExceeded     a call's estimate does not fit a budget (ADR 025)
    │   └── ToolLoopExhausted  the model still called tools at the loop's last iteration
    ├── ChildError           a delegated child did not succeed (`await handle`)
    │   ├── ChildFailed
    │   │   └── ChildTimedOut
    │   ├── ChildCancelled
    │   └── ChildResultInvalid  its result does not fit `result=` (also a SetupError)
    ├── Retry                raised by a handler: try again (after a delay, if given)
    └── Reject               raised by a handler: the task can never succeed

Not here, on purpose: `schemas.SchemaError` and its subclasses (the `schemas` package
never imports `mesh`; the runtime maps them at its boundary), the runner's private
control-flow signals (`_Superseded`, `_DeadlineExceeded` in mesh/runtime/_runner.py,
never seen outside it), and the gateway's `ProblemError` (a FastAPI `HTTPException`
that renders an RFC 9457 problem, mesh/gateway/_problems.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.tasks import TaskError


class MeshError(Exception):
    """Root of all agentmesh errors."""


class SetupError(MeshError):
    """An agent definition is invalid; the message says what to change."""


class SettingsError(MeshError):
    """A MESH_* setting is invalid; the message names the variable."""


class TransportError(MeshError):
    """The broker refused or failed an operation."""


class UnknownTopic(TransportError):
    """Publishing to a topic that was never created (`mesh` creates its topics at start)."""


class BrokerUnreachable(TransportError):
    """A command could not connect; the message names the broker and the fix."""


class UsageError(MeshError):
    """Bad command-line input (exit status 2)."""


class BrokerStartError(MeshError):
    """The embedded broker could not be started; the message says why and where its log is."""


class ModelStartError(MeshError):
    """The embedded model server could not be started; the message says why and what to do."""


class WorkerFailed(MeshError):
    """A worker could not write what it must (after `MESH_WRITE_ATTEMPTS` tries) and
    stopped; its uncommitted records go to the next owner of their partitions."""


class UnknownAgent(MeshError):
    """No agent type of that name has registered (published its card); the message
    lists the ones that have."""


@dataclass(frozen=True)
class FieldError:
    """One part of an input that does not fit its schema: where, and why."""

    path: tuple[str | int, ...]  # () for the input as a whole
    reason: str

    @property
    def field(self) -> str:
        """The path in dots (`customer.email`, `items.0.n`); `input` for the whole."""
        return ".".join(str(part) for part in self.path) or "input"


class InvalidInput(MeshError):
    """`errors` name each part that does not fit (empty when no part is to blame,
    e.g. a message over MESH_MAX_MESSAGE_BYTES), so the gateway and the CLI can say
    which field to fix."""

    def __init__(self, message: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)


class TaskNotFound(MeshError):
    """No task with that id is known to this client's view."""


class TaskEnded(MeshError):
    """Steering or cancelling a task that has already ended (exit status 1)."""


class ApprovalNotPending(MeshError):
    """Approving or rejecting a task that does not wait for an approval (it never
    asked, was answered already, or has ended), or whose approval has expired; the
    gateway's 409 (mesh/approvals.py)."""


class ApprovalExpired(MeshError):
    """A person's approval (`ctx.request_approval`) expired undecided, or had expired
    when the step it allows was to run, and its `on_expiry` is "halt": the task fails
    with this as its error (not retried: a re-run finds the same expiry)."""


class DeadLetterError(MeshError):
    """A dead-letter id is malformed or not listed, or a purge would hide records
    that were not named (mesh.dlq.operate)."""


class ChildError(MeshError):
    """A delegated child task did not succeed; raised by `await handle`.

    Attributes:
        task_id: the child's task id.
        agent: the child's agent type.
        error: why it did not succeed (its error type and message), when known.
    """

    def __init__(self, task_id: str, agent: str, error: TaskError | None) -> None:
        self.task_id = task_id
        self.agent = agent
        self.error = error
        detail = f"{error.type}: {error.message}" if error else "no detail"
        super().__init__(f"child task {task_id!r} of agent {agent!r}: {detail}")


class ChildFailed(ChildError):
    """The child failed or was dead-lettered (its retries ran out, or it rejected)."""


class ChildTimedOut(ChildFailed):
    """The child ran past its deadline or timeout (its own children were cancelled)."""


class ChildCancelled(ChildError):
    """The child was cancelled (`mesh cancel`, `client.cancel`, or its parent's end)."""


class ChildResultInvalid(ChildError, SetupError):
    """The child succeeded, but its result does not fit the model its parent asked for
    with `ctx.delegate(..., result=Model)`: the two agents disagree on the contract.
    Also a `SetupError`, so it is permanent: a re-run reads the same result."""


class StepTooLarge(MeshError):
    """A durable step's result is over MESH_MAX_STEP_BYTES (journal a reference)."""


class ModelError(MeshError):
    """A model call failed; raised by `ctx.chat` (mesh/models).

    Attributes:
        model: the model that was called (the last one tried, after fallbacks).
    """

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


class ModelUnavailable(ModelError):
    """The provider gave no answer: it could not be reached, timed out
    (`MESH_MODEL_TIMEOUT`) or answered with a 5xx. The next fallback model is tried;
    after the last one the task's `RetryPolicy` decides."""


class ModelRefused(ModelError):
    """The provider refused the request (a 4xx other than 429: a malformed request, an
    unknown model, a missing or wrong `MESH_MODEL_API_KEY`); no fallback is tried, since
    the same request would be refused again. Add it to `RetryPolicy(permanent=...)` to
    dead-letter such tasks at once."""


class ModelOutputInvalid(ModelError):
    """The answer did not fit the requested output schema, and neither did the one
    answer asked for again with the validation errors.

    Attributes:
        errors: the parts of the last answer that did not fit, as for `InvalidInput`.
    """

    def __init__(
        self, message: str, *, model: str | None = None, errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(message, model=model)
        self.errors = tuple(errors)


class ModelCallLimitExceeded(ModelError):
    """The task has made MESH_MODEL_MAX_CALLS_PER_TASK model calls (its earlier runs'
    included) and asked for one more: a runaway loop, stopped. Permanent: the task is
    dead-lettered, never retried (a retry would replay the calls and stop again).

    Attributes:
        calls: the calls the task had made.
        limit: the setting's value.
    """

    def __init__(self, message: str, *, model: str | None = None, calls: int, limit: int) -> None:
        super().__init__(message, model=model)
        self.calls = calls
        self.limit = limit


class BudgetExceeded(ModelError):
    """A model call's estimated cost does not fit a budget that applies to it (the
    task tree's, its agent type's or tenant's for this period; ADR 025). Nothing was
    sent to the provider. Permanent: a handler may catch it and degrade (a cheaper
    model, a shorter answer); uncaught, the task is dead-lettered.

    Attributes:
        budget: the budget's id, e.g. `task:<root id>` or `agent:triage:2026-12-02`.
        limit, spent, reserved: by unit ("usd", "tokens"), as the ledger had them.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        budget: str,
        limit: dict[str, float],
        spent: dict[str, float],
        reserved: dict[str, float],
    ) -> None:
        super().__init__(message, model=model)
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.reserved = reserved


class Retry(MeshError):
    """Raise from a handler to have the task tried again.

    Args:
        reason: what went wrong, kept in the task's history.
        after: seconds to wait (e.g. a rate limit's retry-after); None: the agent's
            `RetryPolicy` backoff. Either way the attempt counts toward `max_attempts`.
    """

    def __init__(self, reason: str = "", *, after: float | None = None) -> None:
        if after is not None and after < 0:
            raise ValueError(f"Retry(after={after!r}): a delay cannot be negative")
        super().__init__(reason)
        self.after = after


class ModelRateLimited(ModelError, Retry):
    """The provider answered 429 (rate limited). `retry_after` is its Retry-After in
    seconds (None when it gave none). A limit that clears within
    `MESH_MODEL_FALLBACK_WAIT` is waited out through the task's retry (this is also a
    `Retry` with `after=retry_after`: no sleep holds the worker); a longer one moves on
    to the next fallback model."""

    def __init__(
        self, message: str, *, model: str | None = None, retry_after: float | None = None
    ) -> None:
        ModelError.__init__(self, message, model=model)
        self.after = retry_after
        self.retry_after = retry_after


class Reject(MeshError):
    """Raise from a handler when the task can never succeed (bad input, no access):
    it goes to the dead-letter queue at once, with `reason`."""


class ToolLoopExhausted(ModelError, Reject):
    """`ctx.chat_with_tools` made `max_iterations` model calls and the last one still
    called tools. Also a `Reject` (permanent): a re-run replays the same journaled
    answers and would end the same way. A handler may catch it and use `answer`.

    Attributes:
        answer: the last answer (its `tool_calls` were not run).
        iterations: the model calls the loop made.
    """

    def __init__(self, message: str, *, model: str | None, answer: Any, iterations: int) -> None:
        super().__init__(message, model=model)
        self.answer = answer
        self.iterations = iterations


def first_line(exc: BaseException, *, limit: int = 500) -> str:
    """An error's first non-blank line, at most `limit` characters, for a reason or a
    log line (pydantic and orjson errors run to many lines); its type's name when its
    message is empty."""
    line = next((text for text in str(exc).splitlines() if text.strip()), "")
    return line[:limit] or type(exc).__name__
