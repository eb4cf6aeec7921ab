"""Request and response bodies of the native API (they are also its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
)

from mesh.gateway._json_body import JsonInt, JsonObject
from schemas.envelope import Budget, utc_now
from schemas.gateway import WebhookDelivery
from schemas.tasks import ModelUsage, TaskState


class SubmitTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(min_length=1, max_length=200, description="The agent type to run it.")
    input: JsonObject = Field(description="Validated against the agent's input schema.")
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The same key for the same agent names the same task.",
    )
    priority: JsonInt = Field(
        default=0,
        ge=0,
        le=9,
        description="Carried on the task request; workers do not order by it yet.",
    )
    deadline: AwareDatetime | None = Field(
        default=None, description="After this time the task is cancelled (the supervisor)."
    )
    webhook: AnyHttpUrl | None = Field(
        default=None, description="POSTed the task, signed, once it has ended."
    )
    budget: Budget | None = Field(
        default=None,
        description="What the task and its descendants may spend on model calls "
        '(USD and/or tokens, each > 0), e.g. {"usd": 0.5}; past it a call fails.',
    )

    @field_validator("deadline")
    @classmethod
    def _deadline_ahead(cls, deadline: datetime | None) -> datetime | None:
        if deadline is not None and deadline <= utc_now():
            raise ValueError("is in the past; give a time ahead (ISO 8601 with a zone)")
        return deadline


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str


class SteerTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=100_000)
    data: JsonObject = Field(default_factory=dict)


class CancelTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="cancelled through the gateway", max_length=1000)


class ControlAccepted(BaseModel):
    task_id: str


class TaskDocument(TaskState):
    """A task as the gateway shows it: its latest state and its webhook's delivery."""

    webhook: WebhookDelivery | None = None
    usage_total: list[ModelUsage] | None = Field(
        default=None,
        description="On `GET /v1/tasks/{id}`: the model usage of the task and all its "
        "descendants, per agent type and model (`usage` is the task's own).",
    )


class TaskPage(BaseModel):
    tasks: list[TaskDocument]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class EventAccepted(BaseModel):
    id: str
    type: str
    version: int


def task_document(
    state: TaskState,
    webhook: WebhookDelivery | None,
    usage_total: list[ModelUsage] | None = None,
) -> bytes:
    """A `TaskDocument` as JSON, serialized by pydantic-core straight from the view's
    models (no dict in between, no validation again): the hot path of every read.
    `usage_total` (the task tree's) only where it was summed: one task's read."""
    hook = _WEBHOOK_JSON.to_json(webhook) if webhook is not None else b"null"
    document = _STATE_JSON.to_json(state)[:-1] + b',"webhook":' + hook
    if usage_total is not None:
        document += b',"usage_total":' + _USAGE_JSON.to_json(usage_total)
    return document + b"}"


_STATE_JSON = TaskState.__pydantic_serializer__
_WEBHOOK_JSON = WebhookDelivery.__pydantic_serializer__
_USAGE_JSON = TypeAdapter(list[ModelUsage]).serializer
