"""LangGraph-compatible threads and runs, as the gateway keeps them in Kafka (ADR 012).

Both live in one compacted topic, each under its own key (a thread under its id, a
run under `<thread id>/<run id>`), on the thread's partition. A run's progress is
not copied here: it is the progress of the mesh task the run submitted, read from
the task-state topic. These records hold only what the task state cannot tell.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from schemas.registry import REGISTRY

THREAD = "mesh.langgraph.thread"
RUN = "mesh.langgraph.run"

MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
RunStatus = Literal["pending", "running", "success", "error", "timeout", "interrupted"]


@REGISTRY.register(THREAD, 1)
class ThreadRecord(BaseModel):
    """A conversation: the runs on it share its message history."""

    thread_id: str
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None  # deleted: the thread and its runs leave every view
    # A stateless run's thread (`POST /runs`, `on_completion="delete"`): deleted once
    # its runs have ended, after a grace period for those still reading the answer.
    delete_when_done: bool = False
    # The tenant of the caller that made it (ADR 046): only that tenant (or an admin of
    # every tenant) sees the thread, and its runs' tasks carry it. None: auth off.
    tenant: str | None = None


@REGISTRY.register(RUN, 1)
class RunRecord(BaseModel):
    """One run on a thread.

    A run submits a mesh task whose idempotency key is the run id, so any gateway
    derives the same task id and a repeated submission runs nothing twice. A run
    that answers a task waiting for a human (`command.resume`) submits nothing: it
    follows that task (`resumes_task_id`) from the waiting state it answered.
    """

    run_id: str
    thread_id: str
    assistant_id: str
    created_at: datetime
    multitask_strategy: MultitaskStrategy = "enqueue"
    input: dict[str, Any] = Field(default_factory=dict)
    command: dict[str, Any] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    resumes_task_id: str | None = None
    resumes_waiting_since: datetime | None = None  # the answered waiting state's updated_at
    cancel_requested: bool = False  # cancelled or superseded; no longer blocks the thread
    ended_as: RunStatus | None = None  # a status fixed by the gateway, not by the task
    error: str | None = None  # why the gateway could not start it (with ended_as="error")
    webhook: str | None = None  # POSTed the run and the thread's values once it has ended
    webhook_status: Literal["sent", "failed"] | None = None
