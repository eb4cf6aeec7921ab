"""Commands about a task this worker holds: cancel, steer, and the supervisor's redispatch.

They come through the agent's inbox, keyed by the task id, so they reach the worker
that holds the task, and they sit in the same partitions as the tasks: the worker
reads on past tasks waiting in its backlog to reach them (mesh/runtime/worker.py).
A command for a task that is not held here (it ended, or moved) is noted and dropped.
"""

from __future__ import annotations

import logging

from mesh.runtime._admission import Admission
from mesh.runtime._record_writes import RecordWrites
from mesh.runtime._running_task import RunningTask
from schemas import Envelope
from schemas.envelope import new_id
from schemas.tasks import CANCEL, REDISPATCH, Cancel, EventKind, Redispatch, Steer

log = logging.getLogger(__name__)


def apply_control(envelope: Envelope, admission: Admission, writes: RecordWrites) -> None:
    """Apply a cancel, steer or redispatch command to the task it names."""
    task_id = envelope.task_id or ""
    running = admission.running.get(task_id)
    if running is None:
        log.info("%s for task %s, which is not running here", envelope.type, task_id)
    elif envelope.type == REDISPATCH:
        _redispatch(running, Redispatch.model_validate(envelope.payload), admission)
    elif envelope.type == CANCEL:
        order = Cancel.model_validate(envelope.payload)
        log.info("cancelling task %s (%s)", task_id, order.reason)
        running.cancel(order.reason, fail=order.fail)
        if running.task is None:
            admission.start(running)  # from the backlog at once: it only records `cancelled`
    else:
        steer = Steer.model_validate(envelope.payload)
        running.steer(steer)
        if (context := running.context) is not None:
            writes.spawn(
                lambda: context._recorder.record(EventKind.STEERED, steer=steer),
                what="task_record",
            )


def _redispatch(running: RunningTask, order: Redispatch, admission: Admission) -> None:
    """Replace a stuck run by a new attempt of the task, here and now."""
    if running.request.attempt >= order.attempt:
        return  # already at that attempt or past it
    log.warning(
        "task %s: attempt %d superseded by attempt %d (%s)",
        running.task_id,
        running.request.attempt,
        order.attempt,
        order.reason,
    )
    running.supersede()
    newer = running.request.model_copy(update={"id": new_id(), "attempt": order.attempt})
    del admission.running[running.task_id]
    admission.accept(RunningTask(newer, running.record, running.handler, ask_human=order.ask_human))
