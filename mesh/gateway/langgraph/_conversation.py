"""What a thread looks like now: its runs' statuses, status, messages and interrupts.

Derived on every read from two views, both materialized from Kafka: the thread's
run records (mesh/gateway/langgraph/_threads.py) and the state of the mesh task each run
submitted (mesh/views/tasks.py). Nothing derived here is stored, so any gateway answers
the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from mesh.models.accounting import tree_usage
from mesh.views.tasks import TaskView
from schemas.langgraph import RunRecord, RunStatus, ThreadRecord
from schemas.tasks import DEADLINE_EXCEEDED, ModelUsage, TaskState, TaskStatus

IN_FLIGHT: frozenset[RunStatus] = frozenset({"pending", "running"})
_INTERRUPTS = uuid.UUID("5d0f4a8e-9b7c-4e21-8f3a-6c1d2b9e7a40")

_RUN_STATUS_OF: dict[TaskStatus, RunStatus] = {
    TaskStatus.SUBMITTED: "pending",
    TaskStatus.RUNNING: "running",
    TaskStatus.RETRYING: "running",
    # A task asking a human ended its run, as a LangGraph interrupt does: the thread
    # shows `interrupted` and a new run with `command.resume` answers it.
    TaskStatus.WAITING: "success",
    TaskStatus.SUCCEEDED: "success",
    TaskStatus.FAILED: "error",
    TaskStatus.DEAD_LETTERED: "error",
    TaskStatus.CANCELLED: "interrupted",
}


@dataclass(frozen=True)
class RunView:
    record: RunRecord
    task: TaskState | None
    status: RunStatus
    owns_task: bool  # no later run resumed the task, so its outcome is this run's
    # The model usage of its task's tree (the task and its descendants; every run of a
    # resumed task shows the task's), per agent type and model (ADR 021).
    usage: tuple[ModelUsage, ...] = ()

    @property
    def blocks_thread(self) -> bool:
        """Whether a queued run must wait for this one (a cancelled one does not)."""
        return self.status in IN_FLIGHT and not self.record.cancel_requested

    @property
    def submitted(self) -> bool:
        return self.task is not None

    @property
    def waiting_for_human(self) -> bool:
        task = self.task
        return (
            self.owns_task
            and self.status == "success"
            and task is not None
            and task.status is TaskStatus.WAITING
        )

    @property
    def updated_at(self) -> datetime:
        return self.task.updated_at if self.task is not None else self.record.created_at


@dataclass(frozen=True)
class Conversation:
    thread: ThreadRecord
    runs: list[RunView]  # oldest first
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """idle | busy | interrupted | error, as LangGraph reports a thread."""
        if any(run.status in IN_FLIGHT for run in self.runs):
            return "busy"
        if not self.runs:
            return "idle"
        last = self.runs[-1]
        if last.waiting_for_human:
            return "interrupted"
        return "error" if last.status in ("error", "timeout") else "idle"

    @property
    def waiting_run(self) -> RunView | None:
        """The run whose task waits for a human's answer, if the thread is interrupted."""
        return self.runs[-1] if self.status == "interrupted" else None

    @property
    def interrupts(self) -> dict[str, list[dict[str, Any]]]:
        waiting = self.waiting_run
        if waiting is None or waiting.task is None:
            return {}
        return {waiting.task.task_id: [interrupt_of(waiting.task)]}

    @property
    def values(self) -> dict[str, Any]:
        return {"messages": self.messages} if self.messages else {}

    @property
    def updated_at(self) -> datetime:
        return max([self.thread.updated_at, *(run.updated_at for run in self.runs)])

    def ended_before(self, moment: datetime) -> bool:
        """Whether it has runs, none in flight, and nothing changed since `moment`."""
        return bool(self.runs) and self.status != "busy" and self.updated_at <= moment

    def run(self, run_id: str) -> RunView | None:
        return next((run for run in self.runs if run.record.run_id == run_id), None)

    def history_before(self, run_id: str) -> list[dict[str, Any]]:
        """The messages a run's task starts from: those of every earlier run."""
        index = next(i for i, run in enumerate(self.runs) if run.record.run_id == run_id)
        return messages_of(self.runs[:index])


def interrupt_of(task: TaskState) -> dict[str, Any]:
    """A task waiting for a human as a LangGraph interrupt `{id, value}`."""
    stable = uuid.uuid5(_INTERRUPTS, f"{task.task_id}:{task.updated_at.isoformat()}")
    return {"id": stable.hex, "value": task.waiting_for or ""}


def conversation(thread: ThreadRecord, records: list[RunRecord], tasks: TaskView) -> Conversation:
    """The thread as of now, from its run records (oldest first) and their tasks."""
    found = [(record, task_of(record, tasks)) for record in records]
    resumed_later: set[str] = set()
    views: list[RunView] = []
    for record, task in reversed(found):
        owns = task is None or task.task_id not in resumed_later
        status = run_status(record, task, owns_task=owns)
        usage = tuple(tree_usage(tasks.tasks, task.task_id)) if task is not None else ()
        views.append(RunView(record, task, status, owns, usage))
        if task is not None and record.resumes_task_id is not None:
            resumed_later.add(task.task_id)
    views.reverse()
    return Conversation(thread, views, messages_of(views))


def task_of(record: RunRecord, tasks: TaskView) -> TaskState | None:
    """The mesh task a run follows; None while a queued run has not been submitted."""
    task_id = record.resumes_task_id or tasks.by_idempotency_key.get(
        (record.assistant_id, record.run_id)
    )
    return tasks.tasks.get(task_id) if task_id is not None else None


def run_status(record: RunRecord, task: TaskState | None, *, owns_task: bool) -> RunStatus:
    if record.ended_as is not None:
        return record.ended_as
    if task is None:
        return "interrupted" if record.cancel_requested else "pending"
    if not owns_task:
        return "success"  # it ended at a human's question; a later run took the task on
    if (
        record.resumes_waiting_since is not None
        and task.status is TaskStatus.WAITING
        and task.updated_at == record.resumes_waiting_since
    ):
        return "pending"  # the answer has not reached the waiting task yet
    if task.status is TaskStatus.FAILED and task.error and task.error.type == DEADLINE_EXCEEDED:
        return "timeout"
    return _RUN_STATUS_OF[task.status]


def messages_of(runs: list[RunView]) -> list[dict[str, Any]]:
    """The thread's messages: each submitted run's input, then its task's answer."""
    messages: list[dict[str, Any]] = []
    for run in runs:
        if run.record.resumes_task_id is None and run.submitted:
            messages += run.record.input.get("messages") or []
        task = run.task
        if run.owns_task and task is not None and task.status is TaskStatus.SUCCEEDED:
            messages.append(answer_message(task))
    return messages


def answer_message(task: TaskState) -> dict[str, Any]:
    """A task's result as the assistant's message: its `text`, its last message, or
    the whole result as JSON."""
    result = task.result or {}
    content: Any
    if isinstance(result.get("text"), str):
        content = result["text"]
    elif isinstance(result.get("messages"), list) and result["messages"]:
        last = result["messages"][-1]
        content = last.get("content", "") if isinstance(last, dict) else str(last)
    else:
        content = orjson.dumps(result).decode()
    return {"role": "assistant", "content": content, "id": f"{task.task_id}-answer"}
