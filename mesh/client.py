"""`Client`: submit, follow, steer and cancel tasks; answer approvals; publish domain events.

Used by the CLI, the tests, and any Python program that hands work to the mesh::

    async with Client.from_settings() as client:  # connects here, on entry
        task_id = await client.submit("knowledge", {"query": "refund"})
        state = await client.wait(task_id, timeout=30)
"""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from mesh._contracts import import_contracts
from mesh._validation import validated_event, validated_input
from mesh.approvals import decision_steer, pending_approvals
from mesh.errors import InvalidInput, TaskNotFound, UnknownAgent
from mesh.runtime.lifecycle import submit_task, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings, load_settings
from mesh.topics import runtime_topics
from mesh.transport.base import Transport
from mesh.views.pauses import pause_envelope
from mesh.views.tasks import TaskView
from schemas import REGISTRY, Envelope, Source
from schemas.envelope import Budget, new_id
from schemas.registry import SchemaError
from schemas.supervision import AgentPause
from schemas.tasks import CANCEL, STEER, AgentCard, Cancel, Steer, TaskState, TaskStatus


class Client:
    """A mesh client on `transport` (started and stopped by the client when it owns it)."""

    def __init__(
        self,
        transport: Transport,
        settings: Settings | None = None,
        *,
        owns_transport: bool = False,
        name: str = "client",
        view: TaskView | None = None,
    ) -> None:
        """`view` replaces the default `TaskView` (the gateway reads more topics).

        The client imports the contracts modules `settings.contracts` names
        (MESH_CONTRACTS), so it knows the domain events it may publish.
        """
        self.settings = settings or load_settings()
        import_contracts(self.settings)
        self.transport = transport
        self._owns_transport = owns_transport
        self.publisher = Publisher(
            transport, self.settings, Source(agent=name, instance=self.settings.instance_id)
        )
        self.view = view or TaskView(transport, self.publisher.topics)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Client:
        """A client of its own transport to the broker `settings` name (default: the
        MESH_* environment). Nothing connects yet: `start()` (or `async with`) does."""
        from mesh.transport.factory import kafka_transport

        settings = settings or load_settings()
        return cls(kafka_transport(settings), settings, owns_transport=True)

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect and catch the view up; on failure, what was opened is closed again."""
        try:
            if self._owns_transport:
                await self.transport.start()
            await self.transport.ensure_topics(runtime_topics(self.settings))
            await self.view.start()
            await self.view.catch_up()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        await self.view.stop()
        if self._owns_transport:
            await self.transport.stop()

    # -- tasks -----------------------------------------------------------------------

    async def submit(
        self,
        agent: str,
        input: BaseModel | dict[str, Any],
        *,
        idempotency_key: str | None = None,
        deadline: datetime | None = None,
        priority: int = 0,
        tenant: str | None = None,
        budget: Budget | None = None,
        correlation_id: str | None = None,
    ) -> str:
        """Submit a task and return its id at once (the same id for a repeated key).

        `correlation_id` groups it with other tasks of one flow (an A2A context id);
        its descendants carry it too.

        A `budget` bounds what the task and its descendants spend on model calls
        (ADR 025); past it a call raises `BudgetExceeded`.

        With an `idempotency_key` the task id is derived from the agent and the key,
        so clients that do not share a view (two gateway replicas) still name one
        task, and the agent's worker runs it once: a second request for it is a
        duplicate of a running or ended task (mesh/runtime/journal.py).

        Raises:
            UnknownAgent: no agent of that name has ever registered.
            InvalidInput: `input` does not fit the agent's input schema.
        """
        card = self.agent(agent)
        task_id = _task_id(agent, idempotency_key, tenant)
        if idempotency_key is not None:
            if task_id in self.view.tasks:
                return task_id
            # Keys are per tenant: another tenant's task under this key is not this one.
            existing = self.view.by_idempotency_key.get((agent, idempotency_key))
            if existing is not None and tenant is None:
                return existing
        payload = self._validated_input(card, input)
        request = Envelope(
            type=card.task_type or "",
            version=card.task_version or 1,
            task_id=task_id,
            root_task_id=task_id,
            idempotency_key=idempotency_key,
            deadline=deadline,
            priority=priority,
            tenant=tenant,
            budget=budget,
            correlation_id=correlation_id,
            source=self.publisher.source,
            payload=payload,
        )
        self.view.apply_local(submitted_state(request, agent))
        await submit_task(self.publisher, request, agent, input_schema=card.input_schema)
        return task_id

    def agent(self, name: str) -> AgentCard:
        card = self.view.agents.get(name)
        if card is None or card.task_type is None:
            known = sorted(n for n, c in self.view.agents.items() if c.task_type)
            raise UnknownAgent(
                f"unknown agent {name!r}; agents that take tasks: {', '.join(known) or 'none'}"
            )
        return card

    def agents(self) -> list[AgentCard]:
        return sorted(self.view.agents.values(), key=lambda c: c.name)

    async def pause_agent(self, agent: str, *, reason: str = "", by: str = "") -> None:
        """Pause an agent type (ADR 039): its workers start no new task until `resume_agent`;
        tasks in flight finish. Submitting still works: the tasks wait.

        Raises:
            UnknownAgent: no agent of that name has ever registered.
        """
        await self._switch(agent, paused=True, reason=reason, by=by)

    async def resume_agent(self, agent: str, *, by: str = "") -> None:
        """Let a paused agent type's workers start tasks again (the held ones first)."""
        await self._switch(agent, paused=False, reason="", by=by)

    async def _switch(self, agent: str, *, paused: bool, reason: str, by: str) -> None:
        if agent not in self.view.agents:
            known = ", ".join(sorted(self.view.agents)) or "none"
            raise UnknownAgent(f"unknown agent {agent!r}; registered agents: {known}")
        source = self.publisher.source
        envelope = pause_envelope(agent, paused=paused, source=source, by=by, reason=reason)
        await self.publisher.send(self.publisher.topics.agent_pauses, envelope, key=agent)
        self.view.pauses[agent] = AgentPause.model_validate(envelope.payload)  # read-your-writes

    def _validated_input(
        self, card: AgentCard, input: BaseModel | dict[str, Any]
    ) -> dict[str, Any]:
        # Against the agent's model, or its card's JSON Schema when this process does
        # not ship the model (mesh/_validation.py).
        return validated_input(card, input)

    async def get(self, task_id: str) -> TaskState:
        state = self.view.tasks.get(task_id)
        if state is None:
            await self.view.catch_up()
            state = self.view.tasks.get(task_id)
        if state is None:
            raise TaskNotFound(f"no task with id {task_id!r}")
        return self.view.with_held(state)

    async def list(
        self,
        *,
        status: TaskStatus | None = None,
        agent: str | None = None,
        root: str | None = None,
        correlation: str | None = None,
        limit: int = 100,
    ) -> list[TaskState]:
        """Newest first; `correlation` keeps the tasks a domain event started (by its
        id, as `publish` returned it) and their descendants."""
        return self.view.list(
            status=status, agent=agent, root=root, correlation=correlation, limit=limit
        )

    async def wait(self, task_id: str, *, timeout: float = 60.0) -> TaskState:
        """The task's state once it has ended (succeeded, failed, cancelled...)."""
        return await self.view.wait_for(task_id, terminal=True, timeout=timeout)

    async def steer(self, task_id: str, text: str = "", **data: Any) -> None:
        """Send a follow-up instruction to a running task."""
        await self._control(task_id, STEER, Steer(text=text, data=data))

    async def resume(self, task_id: str, text: str = "", **data: Any) -> None:
        """Answer a task that waits for a human (`ctx.escalate`); it runs on."""
        state = await self.get(task_id)
        if state.status is not TaskStatus.WAITING:
            raise InvalidInput(f"task {task_id} is {state.status}, not waiting for an answer")
        await self._control(task_id, STEER, Steer(text=text, data=data))

    # -- approvals (mesh/approvals.py, ADR 027) ---------------------------------------

    def approvals(self) -> builtins.list[TaskState]:
        """Tasks of every agent that wait for a person's approval, soonest expiry first
        (each state's `approval` says what is asked, with its details and expiry)."""
        return pending_approvals(self.view)

    async def approve(self, task_id: str, *, by: str, note: str = "") -> TaskState:
        """Approve what the task waits for; returns the state it was answered in.

        Raises:
            TaskNotFound: no such task.
            ApprovalNotPending: it waits for no approval, or the approval has expired.
        """
        return await self._decide(task_id, "approved", by=by, note=note)

    async def reject(self, task_id: str, *, by: str, note: str = "") -> TaskState:
        """Reject what the task waits for (raises as `approve`)."""
        return await self._decide(task_id, "rejected", by=by, note=note)

    async def _decide(
        self, task_id: str, decision: Literal["approved", "rejected"], *, by: str, note: str
    ) -> TaskState:
        state = await self.get(task_id)
        await self._control(task_id, STEER, decision_steer(state, decision, by=by, note=note))
        return state

    async def cancel(self, task_id: str, reason: str = "cancelled by client") -> None:
        """Cancel a task and, through it, its children."""
        await self._control(task_id, CANCEL, Cancel(reason=reason))

    async def _control(self, task_id: str, type_: str, message: BaseModel) -> None:
        state = await self.get(task_id)
        envelope = Envelope(
            type=type_,
            task_id=task_id,
            root_task_id=state.root_task_id,
            source=self.publisher.source,
            payload=message.model_dump(mode="json"),
        )
        await self.publisher.send(self.publisher.topics.inbox(state.agent), envelope, key=task_id)

    # -- domain events ---------------------------------------------------------------

    async def publish(self, event: BaseModel, *, key: str) -> str:
        """Publish a domain event from an upstream system; returns its message id."""
        type_, version = REGISTRY.type_of(type(event))
        return await self.publish_raw(
            type_, event.model_dump(mode="json"), key=key, version=version
        )

    async def publish_raw(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        key: str,
        version: int | None = None,
        tenant: str | None = None,
    ) -> str:
        """Validate `payload` against its registered schema, then publish the model's
        dump (fields the schema does not know are not forwarded).

        Raises:
            InvalidInput: no such schema, or `payload` does not fit it (`errors` name
                the fields).
        """
        try:
            version = version or REGISTRY.latest_version(type_)
            payload = validated_event(type_, version, payload)
        except SchemaError as exc:
            raise InvalidInput(f"{type_!r} v{version}: {exc}") from None
        envelope = Envelope(
            type=type_,
            version=version,
            source=self.publisher.source,
            payload=payload,
            tenant=tenant,
        )
        await self.publisher.send_event(envelope, key=key)
        return envelope.id


_IDEMPOTENT_TASKS = uuid.UUID("3c5e0b7e-51d4-4b8f-8a43-2f0de4a6c9b1")


def _task_id(agent: str, idempotency_key: str | None, tenant: str | None) -> str:
    if idempotency_key is None:
        return new_id()
    # Two tenants' equal keys are two tasks; without a tenant, the id is as it always was.
    scoped = idempotency_key if tenant is None else f"{tenant}\n{idempotency_key}"
    return uuid.uuid5(_IDEMPOTENT_TASKS, f"{agent}\n{scoped}").hex
