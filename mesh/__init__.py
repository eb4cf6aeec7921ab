"""agentmesh: a Kafka-based, event-driven multi-agent mesh.

Reading order for a newcomer:
1. `mesh.agent`     - `Agent`: declare an agent type and its handlers.
2. `mesh.context`   - `TaskContext`: emit, delegate (typed `TaskHandle`s), gather, step,
                      chat (a model call, `mesh.models`), chat_with_tools (agents as
                      tools, `mesh.tool_loop`), progress, steering, human approval
                      with an expiry (`mesh.approvals`).
3. `mesh.runtime.worker`    - `Worker`: one process in an agent type's consumer group;
                      `mesh.runtime._runner` runs one task, `mesh.runtime._offsets` decides commits.
4. `mesh.runtime.lifecycle` - task events and state; `mesh.views.tasks` materializes state.
5. `mesh.client`    - `Client`: submit, get, list, steer, cancel, publish.
6. `mesh.transport` - the broker seam (`memory` double, `kafka` adapter); `mesh.security`
                      derives each principal's Kafka ACLs from `mesh.topics`.
7. `mesh.cli.main`, `mesh.dev.devserver`, `mesh.dev.broker` - commands and the embedded broker.
8. `mesh.errors`    - every error, in one hierarchy (drawn in its docstring).
The message contracts live in the `schemas` package.
"""

from mesh.agent import Agent
from mesh.approvals import Approval, ApprovalStatus
from mesh.client import Client
from mesh.context import TaskContext
from mesh.errors import (
    ApprovalExpired,
    ApprovalNotPending,
    BudgetExceeded,
    ChildCancelled,
    ChildError,
    ChildFailed,
    ChildResultInvalid,
    ChildTimedOut,
    FieldError,
    InvalidInput,
    MeshError,
    ModelCallLimitExceeded,
    ModelError,
    ModelOutputInvalid,
    ModelRateLimited,
    ModelRefused,
    ModelUnavailable,
    Reject,
    Retry,
    SettingsError,
    SetupError,
    StepTooLarge,
    TaskNotFound,
    ToolLoopExhausted,
    TransportError,
    UnknownAgent,
    WorkerFailed,
)
from mesh.handles import TaskHandle
from mesh.models import ChatMessage, ModelAnswer, ModelSpec, ToolSpec, Usage
from mesh.retry import RetryPolicy
from mesh.runtime.worker import Worker
from mesh.settings import Settings, load_settings
from mesh.supervision.policy import Policies, SupervisionPolicy
from mesh.tools import AgentTool, FunctionTool
from schemas.envelope import Budget
from schemas.tasks import AgentCard, Steer, TaskState, TaskStatus

__all__ = [
    "Agent",
    "AgentCard",
    "AgentTool",
    "Approval",
    "ApprovalExpired",
    "ApprovalNotPending",
    "ApprovalStatus",
    "Budget",
    "BudgetExceeded",
    "ChatMessage",
    "ChildCancelled",
    "ChildError",
    "ChildFailed",
    "ChildResultInvalid",
    "ChildTimedOut",
    "Client",
    "FieldError",
    "FunctionTool",
    "InvalidInput",
    "MeshError",
    "ModelAnswer",
    "ModelCallLimitExceeded",
    "ModelError",
    "ModelOutputInvalid",
    "ModelRateLimited",
    "ModelRefused",
    "ModelSpec",
    "ModelUnavailable",
    "Policies",
    "Reject",
    "Retry",
    "RetryPolicy",
    "Settings",
    "SettingsError",
    "SetupError",
    "Steer",
    "StepTooLarge",
    "SupervisionPolicy",
    "TaskContext",
    "TaskHandle",
    "TaskNotFound",
    "TaskState",
    "TaskStatus",
    "ToolLoopExhausted",
    "ToolSpec",
    "TransportError",
    "UnknownAgent",
    "Usage",
    "Worker",
    "WorkerFailed",
    "load_settings",
]
