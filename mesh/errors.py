"""Every error the mesh raises on purpose.

Hierarchy::

    MeshError
    ├── SetupError           an agent definition is wrong (raised at registration)
    ├── SettingsError        a MESH_* setting is invalid (raised at start-up)
    ├── BrokerStartError     the embedded broker did not start (mesh.broker)
    ├── TransportError       the broker refused or failed an operation
    │   └── UnknownTopic     publishing to a topic that was never created
    ├── UnknownAgent         no agent type of that name has registered
    ├── InvalidInput         a task input or event payload fails its schema
    ├── TaskNotFound         no task with that id is known
    └── TaskError            a delegated child did not succeed
        ├── ChildFailed
        └── ChildCancelled
"""

from __future__ import annotations

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


class UnknownAgent(MeshError):
    pass


class InvalidInput(MeshError):
    pass


class TaskNotFound(MeshError):
    pass


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


class ChildCancelled(TaskError):
    pass
