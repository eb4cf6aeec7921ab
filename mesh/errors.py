"""Every error the mesh raises on purpose.

Hierarchy::

    MeshError
    ├── SetupError           an agent definition is wrong (raised at registration)
    ├── SettingsError        a MESH_* setting is invalid (raised at start-up)
    ├── BrokerStartError     the embedded broker did not start (mesh.dev.broker)
    ├── WorkerFailed         a worker gave up on a write and stopped (exit status 1)
    ├── TransportError       the broker refused or failed an operation
    │   └── UnknownTopic     publishing to a topic that was never created
    ├── UnknownAgent         no agent type of that name has registered
    ├── InvalidInput         a task input or event payload fails its schema
    ├── TaskNotFound         no task with that id is known
    ├── DeadLetterError      no dead letter with that id, or a purge would hide others
    ├── TaskError            a delegated child did not succeed
    │   ├── ChildFailed
    │   │   └── ChildTimedOut
    │   └── ChildCancelled
    ├── Retry                raised by a handler: try again (after a delay, if given)
    └── Reject               raised by a handler: the task can never succeed
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.tasks import TaskError as TaskErrorModel


class MeshError(Exception):
    """Root of all agentmesh errors."""


class SetupError(MeshError):
    """An agent definition is invalid; the message says what to change."""


class SettingsError(MeshError):
    """A MESH_* setting is invalid; the message names the variable."""


class TransportError(MeshError):
    """The broker refused or failed an operation."""


class UnknownTopic(TransportError):
    pass


class WorkerFailed(MeshError):
    """A worker could not write what it must (after `MESH_WRITE_ATTEMPTS` tries) and
    stopped; its uncommitted records go to the next owner of their partitions."""


class UnknownAgent(MeshError):
    pass


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
    pass


class DeadLetterError(MeshError):
    """A dead-letter id is malformed or not listed, or a purge would hide records
    that were not named (mesh.dlq.operate)."""


class TaskError(MeshError):
    """A delegated child task did not succeed."""

    def __init__(self, task_id: str, agent: str, error: TaskErrorModel | None) -> None:
        self.task_id = task_id
        self.agent = agent
        self.error = error
        detail = f"{error.type}: {error.message}" if error else "no detail"
        super().__init__(f"child task {task_id!r} of agent {agent!r}: {detail}")


class ChildFailed(TaskError):
    pass


class ChildTimedOut(ChildFailed):
    """The child ran past its deadline or timeout (its own children were cancelled)."""


class ChildCancelled(TaskError):
    pass


class StepTooLarge(MeshError):
    """A durable step's result is over MESH_MAX_STEP_BYTES (journal a reference)."""


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


class Reject(MeshError):
    """Raise from a handler when the task can never succeed (bad input, no access):
    it goes to the dead-letter queue at once, with `reason`."""
