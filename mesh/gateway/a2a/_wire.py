"""Mesh tasks as A2A 1.0 objects (ADR 041): JSON in the protocol's JSON form (camelCase,
enum names), built straight from the view's records.

Status: submitted -> SUBMITTED; running and retrying -> WORKING; waiting (for a
human's answer or approval) -> INPUT_REQUIRED; succeeded -> COMPLETED; failed and
dead-lettered -> FAILED, but REJECTED for input its schema refused; cancelled ->
CANCELED. A task's result is its one artifact, `result` (a data part, plus a text part
when the result has a `text`); its progress entries are status messages (WORKING);
the text its model calls stream comes as chunks of an `output` artifact per answer.
The context id is the task's correlation id (its root's id when it has none).
"""

from __future__ import annotations

from typing import Any

import orjson

from mesh.gateway._view import StoredEvent
from schemas.tasks import INVALID_INPUT, EventKind, TaskState, TaskStatus
from schemas.tokens import TokenDelta

JsonObject = dict[str, Any]

SUBMITTED = "TASK_STATE_SUBMITTED"
WORKING = "TASK_STATE_WORKING"
INPUT_REQUIRED = "TASK_STATE_INPUT_REQUIRED"
COMPLETED = "TASK_STATE_COMPLETED"
FAILED = "TASK_STATE_FAILED"
CANCELED = "TASK_STATE_CANCELED"
REJECTED = "TASK_STATE_REJECTED"

_STATES = {
    TaskStatus.SUBMITTED: SUBMITTED,
    TaskStatus.RUNNING: WORKING,
    TaskStatus.RETRYING: WORKING,
    TaskStatus.WAITING: INPUT_REQUIRED,
    TaskStatus.SUCCEEDED: COMPLETED,
    TaskStatus.FAILED: FAILED,
    TaskStatus.DEAD_LETTERED: FAILED,
    TaskStatus.CANCELLED: CANCELED,
}
# An A2A state asked for in ListTasks -> the mesh statuses it stands for.
MESH_STATUSES: dict[str, frozenset[TaskStatus]] = {
    state: frozenset(status for status, mapped in _STATES.items() if mapped == state)
    for state in set(_STATES.values())
}
# Where a stream of a task stops: it ended, or it waits for a person.
INTERRUPTED = frozenset({INPUT_REQUIRED, COMPLETED, FAILED, CANCELED, REJECTED})


def a2a_state(state: TaskState) -> str:
    error = state.error
    if (
        state.status is TaskStatus.DEAD_LETTERED
        and error is not None
        and error.type == INVALID_INPUT
    ):
        return REJECTED
    return _STATES[state.status]


def context_id(state: TaskState) -> str:
    return state.correlation_id or state.root_task_id or state.task_id


def agent_message(state: TaskState, message_id: str, text: str, data: JsonObject) -> JsonObject:
    parts: list[JsonObject] = [{"text": text}] if text else []
    if data:
        parts.append({"data": data})
    return {
        "messageId": message_id,
        "contextId": context_id(state),
        "taskId": state.task_id,
        "role": "ROLE_AGENT",
        "parts": parts or [{"text": ""}],
    }


def status_of(state: TaskState) -> JsonObject:
    """The task's A2A status, with a message saying what it waits for or why it ended."""
    status: JsonObject = {"state": a2a_state(state), "timestamp": _time(state)}
    message_id = f"{state.task_id}-status-{state.updated_at.timestamp():.6f}"
    if state.status is TaskStatus.WAITING:
        approval = state.approval.model_dump(mode="json") if state.approval else {}
        text = state.approval.subject if state.approval else state.waiting_for or ""
        data = {"approval": approval} if approval else {}
        status["message"] = agent_message(state, message_id, text, data)
    elif state.error is not None:
        text = f"{state.error.type}: {state.error.message}"
        status["message"] = agent_message(state, message_id, text, {})
    return status


def result_artifact(state: TaskState) -> JsonObject | None:
    if state.result is None:
        return None
    parts: list[JsonObject] = []
    if isinstance(state.result.get("text"), str):
        parts.append({"text": state.result["text"]})
    parts.append({"data": state.result})
    return {"artifactId": f"{state.task_id}-result", "name": "result", "parts": parts}


def input_message(state: TaskState) -> JsonObject:
    """The message that started the task: its input, as a data part."""
    return {
        "messageId": f"{state.task_id}-input",
        "contextId": context_id(state),
        "taskId": state.task_id,
        "role": "ROLE_USER",
        "parts": [{"data": state.input}],
    }


def task_of(state: TaskState, *, history_length: int | None = None) -> JsonObject:
    """The A2A Task: status, the result artifact, and the history (the input message,
    then each progress entry as an agent message), trimmed to `history_length`."""
    task: JsonObject = {
        "id": state.task_id,
        "contextId": context_id(state),
        "status": status_of(state),
        "metadata": {"agent": state.agent, "attempt": state.attempt},
    }
    artifact = result_artifact(state)
    if artifact is not None:
        task["artifacts"] = [artifact]
    if history_length != 0:
        history = [input_message(state)]
        for number, entry in enumerate(state.progress):
            message_id = f"{state.task_id}-progress-{number}"
            history.append(agent_message(state, message_id, entry.message, entry.data))
        task["history"] = history[-history_length:] if history_length else history
    return task


def status_update(state: TaskState, status: JsonObject) -> JsonObject:
    """A StreamResponse carrying a TaskStatusUpdateEvent."""
    update = {"taskId": state.task_id, "contextId": context_id(state), "status": status}
    return {"statusUpdate": update}


def artifact_update(state: TaskState, artifact: JsonObject) -> JsonObject:
    update = {
        "taskId": state.task_id,
        "contextId": context_id(state),
        "artifact": artifact,
        "lastChunk": True,
    }
    return {"artifactUpdate": update}


def token_update(state: TaskState, delta: TokenDelta) -> JsonObject:
    """A piece of a streamed model answer: a chunk of the artifact `output` of that
    answer (one artifact per answer, appended to; the last chunk says so)."""
    artifact = {
        "artifactId": f"{state.task_id}-output-{delta.message_id}",
        "name": "output",
        "parts": [{"text": delta.text}],
        "metadata": {"model": delta.model, "seq": delta.seq},
    }
    update = artifact_update(state, artifact)
    update["artifactUpdate"].update(append=delta.seq > 0, lastChunk=delta.done)
    return update


def event_updates(state: TaskState, event: StoredEvent) -> list[JsonObject]:
    """What one task event becomes on a stream: progress -> a WORKING status with the
    partial result; started, steered, resumed -> WORKING. Where the task stops (it
    waits or ended) comes from its state, not its events (`final_updates`): the two
    are on different topics, and the state is what a later read shows."""
    kind = event.kind
    if kind not in (EventKind.PROGRESS, EventKind.STARTED, EventKind.STEERED, EventKind.RESUMED):
        return []
    payload = orjson.loads(event.data)
    status: JsonObject = {"state": WORKING, "timestamp": payload.get("at") or _time(state)}
    if kind is EventKind.PROGRESS:
        entry = payload.get("progress") or {}
        text, data = entry.get("message", ""), entry.get("data") or {}
        status["message"] = agent_message(state, event.id, text, data)
    return [status_update(state, status)]


def final_updates(state: TaskState) -> list[JsonObject]:
    """The result artifact (when there is one), then the task's status."""
    artifact = result_artifact(state)
    updates = [artifact_update(state, artifact)] if artifact is not None else []
    return [*updates, status_update(state, status_of(state))]


def _time(state: TaskState) -> str:
    return state.updated_at.isoformat()
