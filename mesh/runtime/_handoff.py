"""Tasks this worker hands on instead of running: adopted domain events, rerouted tasks.

Both submit a task to an agent's inbox and then note in the journal partition of the
record they came from that it was handed on, so the record read again (a crash before
the commit, an upstream re-send) is not submitted a second time.
"""

from __future__ import annotations

import logging
import uuid

from mesh.runtime.journal import Journal
from mesh.runtime.lifecycle import TaskRecorder, submit_task, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery
from schemas import Envelope
from schemas.envelope import new_id
from schemas.tasks import EventKind, TaskError, TaskStatus

log = logging.getLogger(__name__)
_ADOPTION_NAMESPACE = uuid.UUID("6f1d3c1e-8a8e-4c55-9b51-6a1f0b7f3a10")


class Handoff:
    """Hands tasks of `agent` on: adopted domain events, tasks rerouted by an open circuit."""

    def __init__(self, publisher: Publisher, journal: Journal, agent: str) -> None:
        self._publisher = publisher
        self._journal = journal
        self._agent = agent

    async def adopt(self, record: Delivery, event: Envelope) -> None:
        """Turn a domain event (its payload already validated, mesh/runtime/_ingress.py)
        into a task of this agent, its id derived from the event's.

        The journal partition of the event's record notes the adoption (partition N of
        the domain topic and of the journal have one owner), so an event read again (a
        crash before the commit, an upstream re-send) is not submitted a second time:
        that would write `submitted` over the task's newer state. A crash between the
        submission and the note re-submits; the task still runs once (its request is a
        duplicate for the journal of its inbox partition).
        """
        task_id = uuid.uuid5(_ADOPTION_NAMESPACE, f"{self._agent}:{event.id}").hex
        request = event.model_copy(
            update={
                "id": new_id(),
                "task_id": task_id,
                "root_task_id": task_id,
                "parent_task_id": None,
                "reply_to": None,
                "causation_id": event.id,
                "correlation_id": event.correlation_id or event.id,
                "source": self._publisher.source,
            }
        )
        noted = record.partition in self._journal.partitions()
        if noted and self._journal.was_adopted(record.partition, request):
            log.debug("event %s was adopted before, as task %s", event.id, task_id)
            return
        await submit_task(self._publisher, request, self._agent)
        if noted:
            await self._journal.record_adoption(record.partition, request)

    async def reroute(self, record: Delivery, request: Envelope, fallback: str) -> None:
        """The circuit is open: hand the task to the fallback agent type, under the same
        id (its parent's handle resolves as usual); the record is then done here."""
        why = f"the circuit of {self._agent!r} is open; sent to {fallback!r}"
        state = submitted_state(request, self._agent)
        recorder = TaskRecorder(self._publisher, state, max_progress=0)
        await recorder.note(EventKind.REROUTED, TaskError(type="CircuitOpen", message=why))
        await submit_task(self._publisher, request.model_copy(update={"id": new_id()}), fallback)
        await self._journal.record_ended(record.partition, request, TaskStatus.SUBMITTED)
