"""A task's dead letters, read and replayed through the gateway (the console's task
page; `mesh dlq` does the same from a shell, over mesh/dlq/operate.py).

Both read the agent's dead-letter topic on request (the view does not hold it): an
operator's action, not a hot path.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from mesh.dlq import operate
from mesh.gateway._deps import GatewayDep
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.gateway import Gateway
from mesh.gateway.native.routes import Operator, Reader, visible_task
from schemas.tasks import TaskState, TaskStatus

router = APIRouter(prefix="/v1", tags=["native"], route_class=JsonBodyRoute)


class DeadLetterDocument(BaseModel):
    id: str = Field(description="`<partition>:<offset>` in the agent's dead-letter topic.")
    reason: str
    error_type: str | None
    error_message: str | None
    attempts: int | None
    first_failure: datetime | None
    last_failure: datetime | None
    instance: str | None


class TaskDeadLetters(BaseModel):
    task_id: str
    dead_letters: list[DeadLetterDocument] = Field(description="Oldest first; purged ones not.")


class TaskReplayed(BaseModel):
    task_id: str
    dead_letter: str = Field(description="The id of the dead letter sent back.")
    replay: int = Field(description="How many times the task has been replayed, this one too.")


async def _letters(gateway: Gateway, state: TaskState) -> list[operate.DeadLetter]:
    return await operate.read_dead_letters(gateway.client.transport, gateway.settings, state.agent)


@router.get(
    "/tasks/{task_id}/dead-letters",
    response_model=TaskDeadLetters,
    responses=problem_responses(404, 410, 503),
)
async def task_dead_letters(task_id: str, gateway: GatewayDep, caller: Reader) -> TaskDeadLetters:
    """The task's records in its agent's dead-letter queue, with why each got there."""
    state = visible_task(gateway, task_id, caller)
    letters = operate.matching(await _letters(gateway, state), task_id=task_id)
    documents = [
        DeadLetterDocument.model_validate({"id": letter.id, **letter.summary()})
        for letter in letters
    ]
    return TaskDeadLetters(task_id=task_id, dead_letters=documents)


@router.post(
    "/tasks/{task_id}/replay",
    status_code=202,
    response_model=TaskReplayed,
    responses=problem_responses(404, 409, 410, 503),
)
async def replay_task(task_id: str, gateway: GatewayDep, caller: Operator) -> TaskReplayed:
    """Send a dead-lettered task back to its agent as a new run (its latest dead
    letter; `mesh dlq replay AGENT --task ID`). 409: it is not dead-lettered, or its
    dead letters were purged, or it cannot be replayed (the problem says why)."""
    state = visible_task(gateway, task_id, caller)
    if state.status is not TaskStatus.DEAD_LETTERED:  # no need to read the queue
        raise ProblemError(409, "task_id", f"task {task_id!r} is {state.status}, not dead_lettered")
    card = gateway.view.agents.get(state.agent)
    if card is None:
        raise ProblemError(409, "task_id", f"agent {state.agent!r} has no card: not running?")
    listed = await _letters(gateway, state)
    chosen = operate.matching(listed, task_id=task_id)
    if not chosen:
        reason = f"task {task_id!r} has no dead letter (never dead-lettered, or purged)"
        raise ProblemError(409, "task_id", reason)
    outcomes = await operate.replay(
        gateway.client.publisher, card, chosen, listed=listed, task_states=gateway.view.tasks
    )
    sent = [o for o in outcomes if o.request is not None]
    if not sent:
        raise ProblemError(409, "task_id", outcomes[-1].skipped or "not replayable")
    request = sent[0].request
    assert request is not None
    return TaskReplayed(task_id=task_id, dead_letter=sent[0].letter.id, replay=request.replay)
