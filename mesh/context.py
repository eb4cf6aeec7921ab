"""`TaskContext`: what a handler can do while it runs one task.

It is the agent's side of AAOSA: a handler both responds (its return value is the
task's result) and initiates (`emit` domain events, `delegate` to other agent types
without blocking). Delegation returns a `TaskHandle` at once; awaiting the handle,
or `gather`-ing several, waits for the child's outcome, which arrives in this
agent's inbox keyed by this task's id (so it lands on the partition this worker owns).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Generator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from mesh.errors import ChildCancelled, ChildFailed, SetupError
from mesh.lifecycle import TaskRecorder, submit_task
from mesh.publisher import Publisher
from schemas import REGISTRY, Envelope
from schemas.envelope import utc_now
from schemas.tasks import EventKind, ProgressEntry, Steer, TaskOutcome, TaskStatus

if TYPE_CHECKING:
    from mesh.agent import Agent


class ChildWaiter(Protocol):
    """The worker side: routes child outcomes to the handle that waits for them."""

    def expect_child(self, task_id: str) -> asyncio.Future[TaskOutcome]: ...


class TaskHandle:
    """A delegated child task. `await handle` returns its result or raises `TaskError`."""

    def __init__(self, task_id: str, agent: str, outcome: asyncio.Future[TaskOutcome]) -> None:
        self.task_id = task_id
        self.agent = agent
        self._outcome = outcome

    def __repr__(self) -> str:
        return f"TaskHandle({self.task_id!r}, agent={self.agent!r}, done={self.done()})"

    def done(self) -> bool:
        return self._outcome.done()

    async def result(self) -> dict[str, Any]:
        outcome = await asyncio.shield(self._outcome)
        if outcome.status is TaskStatus.SUCCEEDED:
            return outcome.result or {}
        if outcome.status is TaskStatus.CANCELLED:
            raise ChildCancelled(self.task_id, self.agent, outcome.error)
        raise ChildFailed(self.task_id, self.agent, outcome.error)

    def __await__(self) -> Generator[Any, None, dict[str, Any]]:
        return self.result().__await__()


class TaskContext:
    """Passed to every handler as its first argument."""

    def __init__(
        self,
        *,
        agent: Agent,
        request: Envelope,
        publisher: Publisher,
        recorder: TaskRecorder,
        waiter: ChildWaiter,
    ) -> None:
        assert request.task_id is not None
        self.agent = agent
        self.request = request
        self.task_id: str = request.task_id
        self.root_task_id: str = request.root_task_id or request.task_id
        self.parent_task_id = request.parent_task_id
        self.attempt = request.attempt
        self.deadline: datetime | None = request.deadline
        self._publisher = publisher
        self._recorder = recorder
        self._waiter = waiter
        self._steering_queue: asyncio.Queue[Steer] | None = None  # made on first use
        self._children: list[TaskHandle] = []
        self._delegations = 0
        self.cancel_requested: str | None = None

    # -- initiating ---------------------------------------------------------------

    async def emit(self, event: BaseModel, *, key: str) -> str:
        """Publish a domain event (keyed by the entity it is about); returns its id."""
        type_, version = REGISTRY.type_of(type(event))
        envelope = Envelope(
            type=type_,
            version=version,
            correlation_id=self.request.correlation_id or self.root_task_id,
            causation_id=self.request.id,
            root_task_id=self.root_task_id,
            source=self._publisher.source,
            tenant=self.request.tenant,
            payload=event.model_dump(mode="json"),
        )
        await self._publisher.send_event(envelope, key=key)
        return envelope.id

    async def delegate(
        self, agent: str, input: BaseModel, *, deadline: datetime | None = None
    ) -> TaskHandle:
        """Start a child task on `agent` and return its handle without waiting for it.

        The child id is derived from this task's id and the delegation's order, so a
        re-run of this handler addresses the same children.
        """
        if agent not in self.agent.delegates_to:
            raise SetupError(
                f"agent {self.agent.name!r} delegates to {agent!r}, which is not in its "
                f"delegates_to {list(self.agent.delegates_to)!r}; add it there"
            )
        type_, version = REGISTRY.type_of(type(input))
        self._delegations += 1
        child_id = uuid.uuid5(uuid.UUID(_as_uuid(self.task_id)), str(self._delegations)).hex
        request = Envelope(
            type=type_,
            version=version,
            task_id=child_id,
            parent_task_id=self.task_id,
            root_task_id=self.root_task_id,
            correlation_id=self.request.correlation_id or self.root_task_id,
            causation_id=self.request.id,
            source=self._publisher.source,
            reply_to=self._publisher.topics.inbox(self.agent.name),
            deadline=deadline or self.deadline,
            priority=self.request.priority,
            tenant=self.request.tenant,
            traceparent=self.request.traceparent,
            payload=input.model_dump(mode="json"),
        )
        handle = TaskHandle(child_id, agent, self._waiter.expect_child(child_id))
        await submit_task(self._publisher, request, agent)
        self._children.append(handle)
        await self._recorder.record(EventKind.DELEGATED, child=(child_id, agent))
        return handle

    @staticmethod
    async def gather(*handles: TaskHandle, return_exceptions: bool = False) -> list[Any]:
        """Wait for several children at once: wall time is the slowest, not the sum."""
        results: list[Any] = await asyncio.gather(
            *(h.result() for h in handles), return_exceptions=return_exceptions
        )
        return results

    async def progress(self, message: str = "", **data: Any) -> None:
        """Report a partial result; it shows in the task's state and event stream."""
        entry = ProgressEntry(at=utc_now(), message=message, data=data)
        await self._recorder.record(EventKind.PROGRESS, progress=entry)

    # -- receiving ----------------------------------------------------------------

    async def next_steer(self, timeout: float | None = None) -> Steer | None:
        """Wait for the next steering message; None after `timeout` seconds."""
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` can swallow a
        # cancel request that arrives together with a steering message.
        try:
            async with asyncio.timeout(timeout):
                return await self._steering.get()
        except TimeoutError:
            return None

    def pending_steers(self) -> list[Steer]:
        """Steering messages received and not yet read, without waiting."""
        steers = []
        while self._steering_queue is not None and not self._steering_queue.empty():
            steers.append(self._steering_queue.get_nowait())
        return steers

    @property
    def children(self) -> list[TaskHandle]:
        return list(self._children)

    @property
    def _steering(self) -> asyncio.Queue[Steer]:
        # Most tasks are never steered; a queue per in-flight task costs ~3 KB.
        if self._steering_queue is None:
            self._steering_queue = asyncio.Queue()
        return self._steering_queue

    def _deliver_steer(self, steer: Steer) -> None:
        self._steering.put_nowait(steer)


def _as_uuid(task_id: str) -> str:
    """Task ids are uuid hex; foreign ids (from upstream systems) are hashed into one."""
    try:
        return str(uuid.UUID(task_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, task_id))
