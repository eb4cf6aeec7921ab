"""The LangGraph Agent Server API's request bodies and response shapes.

Field names and defaults follow what langgraph-sdk 0.4.14 sends and reads (its
`langgraph_sdk.schema` types; tests/gateway/test_langgraph_sdk.py runs that client).
Unknown request fields are ignored, as the real server does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from mesh.gateway._json_body import JSON_VALUE_REF, JsonInt, JsonObject
from mesh.gateway.langgraph._conversation import Conversation, RunView, messages_of
from mesh.models.accounting import usage_total
from schemas.langgraph import MultitaskStrategy
from schemas.tasks import AgentCard

MAX_OFFSET = 2**31 - 1  # past every thread and assistant there could be


class _Lenient(BaseModel):
    # Unknown fields are read past, so they may be any JSON the gateway takes.
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"additionalProperties": JSON_VALUE_REF}
    )


class ThreadCreate(_Lenient):
    thread_id: str | None = None
    metadata: JsonObject = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadPatch(_Lenient):
    metadata: JsonObject = Field(default_factory=dict)


class ThreadSearch(_Lenient):
    metadata: JsonObject = Field(default_factory=dict)
    ids: list[str] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: JsonInt = Field(default=10, ge=1, le=1000)
    offset: JsonInt = Field(default=0, ge=0, le=MAX_OFFSET)


class RunCreate(_Lenient):
    assistant_id: str
    input: JsonObject | None = None
    command: JsonObject | None = None
    config: JsonObject | None = None
    metadata: JsonObject | None = None
    multitask_strategy: MultitaskStrategy = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_completion: Literal["delete", "keep"] = "delete"  # stateless runs only
    webhook: HttpUrl | None = None
    stream_mode: str | list[str] = "values"


class HistoryRequest(_Lenient):
    limit: JsonInt = Field(default=10, ge=1, le=1000)
    before: str | JsonObject | None = None  # a checkpoint id, or a checkpoint


class RunsCancel(_Lenient):
    thread_id: str | None = None
    run_ids: list[str] | None = None
    status: Literal["pending", "running", "all"] | None = None


class AssistantSearch(_Lenient):
    graph_id: str | None = None
    name: str | None = None
    limit: JsonInt = Field(default=10, ge=1, le=1000)
    offset: JsonInt = Field(default=0, ge=0, le=MAX_OFFSET)


def _time(moment: datetime) -> str:
    return moment.isoformat()


def thread_json(now: Conversation) -> dict[str, Any]:
    thread = now.thread
    return {
        "thread_id": thread.thread_id,
        "created_at": _time(thread.created_at),
        "updated_at": _time(now.updated_at),
        "metadata": thread.metadata,
        "status": now.status,
        "values": now.values,
        "interrupts": now.interrupts,
        "config": {},
        "error": None,
    }


def run_json(run: RunView) -> dict[str, Any]:
    record = run.record
    body: dict[str, Any] = {
        "run_id": record.run_id,
        "thread_id": record.thread_id,
        "assistant_id": record.assistant_id,
        "created_at": _time(record.created_at),
        "updated_at": _time(run.updated_at),
        "status": run.status,
        "metadata": {**record.metadata, **_usage_metadata(run)},
        "kwargs": {
            "input": record.input,
            "command": record.command,
            "config": record.config,
            "webhook": record.webhook,
        },
        "multitask_strategy": record.multitask_strategy,
    }
    if run.task is not None:
        body["task_id"] = run.task.task_id  # the mesh task, for `mesh task <id>`
    error = run_error(run)
    if error is not None:
        # Not in LangGraph's Run schema; Deep Agents reports it when present.
        body["error"] = f"{error[0]}: {error[1]}"
    return body


def _usage_metadata(run: RunView) -> dict[str, Any]:
    """`mesh_usage`: the model usage of the run's task tree, added to the run's metadata
    (where a LangGraph client reads a run's extra fields; ADR 021): the totals, and
    `by_model` lines per agent type and model; absent until the run's task exists."""
    if run.task is None:
        return {}
    total = usage_total(run.usage).model_dump(exclude={"agent", "model"})
    by_model = [line.model_dump() for line in run.usage]
    return {"mesh_usage": {**total, "by_model": by_model}}


def run_error(run: RunView) -> tuple[str, str] | None:
    """A failed run's error type and message: its task's, or why it never started."""
    if run.status not in ("error", "timeout"):
        return None
    if run.task is not None and run.task.error is not None:
        return run.task.error.type, run.task.error.message
    return "RunError", run.record.error or f"run {run.record.run_id} {run.status}"


def thread_state_json(now: Conversation) -> dict[str, Any]:
    """`GET /threads/{id}/state` (Deep Agents JS reads `values.messages`): the state
    after the thread's latest run, its checkpoint named by that run's id."""
    states = thread_history_json(now)
    if states:
        return states[0]
    return _state(now, now.values, None, None, now.updated_at)


def thread_history_json(now: Conversation) -> list[dict[str, Any]]:
    """`POST /threads/{id}/history`: the state after each submitted run, newest first.
    Only the newest carries the thread's interrupts (older questions were answered)."""
    started = [(i, run) for i, run in enumerate(now.runs) if run.submitted]
    states = []
    for position, (index, run) in enumerate(started):
        messages = messages_of(now.runs[: index + 1])
        parent = started[position - 1][1].record.run_id if position else None
        values = {"messages": messages} if messages else {}
        states.append(_state(now, values, run.record.run_id, parent, run.updated_at))
    states.reverse()
    for older in states[1:]:
        older["interrupts"] = []
    return states


def _state(
    now: Conversation,
    values: dict[str, Any],
    checkpoint_id: str | None,
    parent_id: str | None,
    at: datetime,
) -> dict[str, Any]:
    thread_id = now.thread.thread_id
    return {
        "values": values,
        "next": [],
        "tasks": [],
        "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": checkpoint_id},
        "metadata": now.thread.metadata,
        "created_at": _time(at),
        "parent_checkpoint": (
            {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": parent_id}
            if parent_id
            else None
        ),
        "interrupts": [item for items in now.interrupts.values() for item in items],
    }


def run_outcome_json(now: Conversation, run: RunView) -> dict[str, Any]:
    """What `runs.wait` and `runs.join` return: the thread's values once the run ended,
    with `__error__` when it failed and `__interrupt__` when it asks a human."""
    values = dict(now.values)
    error = run_error(run)
    if error is not None:
        values["__error__"] = {"error": error[0], "message": error[1]}
    elif run.waiting_for_human:
        values["__interrupt__"] = [item for items in now.interrupts.values() for item in items]
    return values


def assistant_json(card: AgentCard) -> dict[str, Any]:
    """A mesh agent type as a LangGraph assistant: its name is its id and graph id."""
    return {
        "assistant_id": card.name,
        "graph_id": card.name,
        "name": card.name,
        "description": card.description,
        "config": {},
        "context": {},
        "metadata": {"input_schema": card.input_schema or {}},
        "version": 1,
        "created_at": _time(card.updated_at),
        "updated_at": _time(card.updated_at),
    }
