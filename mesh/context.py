"""`TaskContext`: what a handler can do while it runs one task.

It is the agent's side of AAOSA: a handler both responds (its return value is the
task's result) and initiates (`emit` domain events, `delegate` to other agent types
without blocking). Delegation returns a `TaskHandle` at once; awaiting the handle,
or `gather`-ing several, waits for the child's outcome, which arrives in this
agent's inbox keyed by this task's id (so it lands on the partition this worker owns).
Handles are typed (mesh/handles.py): `delegate(..., result=KnowledgeHits)` returns a
`TaskHandle[KnowledgeHits]`, and awaiting it gives a `KnowledgeHits`.

A task may run more than once (a re-delivery after a crash or rebalance, a retry).
`step` and `delegate` make that harmless through the task journal (mesh/runtime/journal.py):
a completed step returns its journaled result instead of running again, and a
delegation re-attaches to the child an earlier run started.

A parent can follow its children's progress while they run (`ctx.children_progress()`)
and steer or cancel one through its handle (mesh/runtime/children.py).

`chat` calls the agent's model (mesh/models) as such a step too: a re-run gets the
journaled answer back instead of paying for the call again. `chat_with_tools` runs the
tool loop on it (mesh/tool_loop.py): the model's tool calls run as delegations.
`request_approval` waits for a person's approval with an expiry (mesh/approvals.py).

Every wait takes `timeout: float | None` in seconds, keyword-only (None: no limit).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar, overload

from pydantic import BaseModel

from mesh._steps import journalable, return_adapter
from mesh.approvals import TaskApprovals
from mesh.errors import SetupError
from mesh.handles import TaskHandle, as_json, child_task_id, gather
from mesh.models.budgets import BudgetScope
from mesh.models.calls import Chat
from mesh.models.clients import ModelClients
from mesh.runtime.children import ChildrenProgress, PublishedControl, children_progress
from mesh.runtime.fence import EffectFence
from mesh.runtime.journal import Journal, TaskJournal
from mesh.runtime.lifecycle import TaskRecorder, submit_task
from mesh.runtime.publisher import Publisher
from mesh.runtime.tokens import TaskTokens
from mesh.steering import TaskSteering
from mesh.tool_loop import ToolLoop
from schemas import REGISTRY, Envelope
from schemas.envelope import utc_now
from schemas.tasks import EventKind, ProgressEntry, Steer, TaskOutcome

if TYPE_CHECKING:
    from mesh.agent import Agent

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
P = ParamSpec("P")


class ChildWaiter(Protocol):
    """The worker side: routes child outcomes to the handle that waits for them."""

    def expect_child(self, task_id: str) -> asyncio.Future[TaskOutcome]: ...


class TaskContext(TaskApprovals, TaskSteering):
    """Passed to every handler as its first argument (`request_approval` and
    `step_if_approved`, a person's approval: mesh/approvals.py, ADR 027; `next_steer`
    and `pending_steers`: mesh/steering.py)."""

    # Made on first use, per instance (ADR 033, 049, 057): most tasks use none of them,
    # and every in-flight task holds its context while it waits.
    _steps_run: set[str] | None = None
    _children: list[TaskHandle[Any]] | None = None
    _progress_watchers: list[ChildrenProgress] | None = None  # children_progress()
    _delegations = 0

    def __init__(
        self,
        *,
        agent: Agent,
        request: Envelope,
        publisher: Publisher,
        recorder: TaskRecorder,
        waiter: ChildWaiter,
        journal: Journal,
        partition: int,
        fence: EffectFence,
        models: ModelClients | None = None,
    ) -> None:
        """`journal`: the worker's, holding this task's entries in `partition` (the
        partition its request was read from)."""
        assert request.task_id is not None
        self.agent = agent
        self.request = request
        self._publisher = publisher
        self._recorder = recorder
        self._waiter = waiter
        self._journals = journal
        self._partition = partition
        self._fence = fence
        self._models = models
        # Activity (start, progress, delegation, step) extends the task's lease.
        self.started_at = self.last_activity = utc_now()

    @property  # the task's ids are read from its request: none held twice per task
    def task_id(self) -> str:
        task_id = self.request.task_id
        assert task_id is not None
        return task_id

    @property
    def root_task_id(self) -> str:
        return self.request.root_task_id or self.task_id

    @property
    def parent_task_id(self) -> str | None:
        return self.request.parent_task_id

    @property
    def attempt(self) -> int:
        return self.request.attempt

    @property
    def deadline(self) -> datetime | None:
        return self.request.deadline

    # The parts below are built on first use: most tasks use few of them, and each
    # in-flight task would hold them all while it waits (ADR 033).

    @functools.cached_property
    def _journal(self) -> TaskJournal:
        """The task's journal entries: steps and children (mesh/runtime/journal.py)."""
        return TaskJournal(self._journals, self._partition, self.task_id)

    @functools.cached_property
    def chat(self) -> Chat:
        """`await ctx.chat(messages, tools=..., output=Model)`: a model call as a durable
        step, typed by `output` (mesh/models/calls.py)."""
        publisher, recorder, request = self._publisher, self._recorder, self.request
        return Chat(
            self.agent.name,
            self.agent.model,
            publisher.settings,
            journal=self._journal,
            effect=self._fence.effect,
            clients=self._models or ModelClients(publisher.settings),
            recorder=recorder,  # counts the task's calls, shows their usage (ADR 021)
            tokens=TaskTokens(request, publisher, recorder),  # `stream=True` (ADR 022)
            priority=request.priority,
            budget=BudgetScope.of(self.agent.name, self.agent.budget, request),  # ADR 025
        )

    @functools.cached_property
    def chat_with_tools(self) -> ToolLoop:
        """`await ctx.chat_with_tools(messages, tools=[AgentTool(agent), ...])`: the tool
        loop, the calls run as delegations (mesh/tool_loop.py)."""
        return ToolLoop(self)

    @functools.cached_property
    def _child_control(self) -> PublishedControl:  # handle.steer/cancel
        return PublishedControl(self._publisher, self.request)

    # -- initiating ---------------------------------------------------------------

    async def emit(self, event: BaseModel, *, key: str) -> str:
        """Publish a domain event (keyed by the entity it is about); returns its id.

        Raises:
            SetupError: the event's type is not in this agent's `emits`.
        """
        type_, version = REGISTRY.type_of(type(event))
        if type_ not in self.agent.emits:
            raise SetupError(
                f"agent {self.agent.name!r} emits {type_!r}, which is not in its emits "
                f"{list(self.agent.emits)!r}; add it there (its Kafka ACLs follow from it)"
            )
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

    @overload
    async def delegate(
        self,
        agent: str,
        input: BaseModel,
        *,
        result: None = None,
        timeout: float | None = None,
        deadline: datetime | None = None,
    ) -> TaskHandle[dict[str, Any]]: ...

    @overload
    async def delegate(
        self,
        agent: str,
        input: BaseModel,
        *,
        result: type[M],
        timeout: float | None = None,
        deadline: datetime | None = None,
    ) -> TaskHandle[M]: ...

    async def delegate(
        self,
        agent: str,
        input: BaseModel,
        *,
        result: type[BaseModel] | None = None,
        timeout: float | None = None,
        deadline: datetime | None = None,
    ) -> TaskHandle[Any]:
        """Start a child task on `agent` and return its handle without waiting for it.

        The child id is derived from this task's id and the delegation's order, so a
        re-run of this handler addresses the same children.

        Args:
            agent: the child's agent type; it must be in this agent's `delegates_to`.
            input: the child's task input (a registered model).
            result: the child's result model: awaiting the handle validates the
                child's result into it. None: the result comes back as a dict.
            timeout: seconds the child may take from now (its deadline); None: this
                task's deadline, or `deadline`.
            deadline: the child's deadline as an instant (instead of `timeout`).

        Raises:
            SetupError: `agent` is not in `delegates_to`, or both `timeout` and
                `deadline` are given.
        """
        if agent not in self.agent.delegates_to:
            raise SetupError(
                f"agent {self.agent.name!r} delegates to {agent!r}, which is not in its "
                f"delegates_to {list(self.agent.delegates_to)!r}; add it there"
            )
        if timeout is not None and deadline is not None:
            raise SetupError(f"delegate to {agent!r}: give timeout= or deadline=, not both")
        if timeout is not None:
            deadline = utc_now() + timedelta(seconds=timeout)
        convert: Callable[[dict[str, Any]], Any] = (
            as_json if result is None else result.model_validate
        )
        self._delegations += 1
        child_id = child_task_id(self.task_id, self._delegations)
        request = self._child_request(child_id, input, deadline or self.deadline)
        self.last_activity = utc_now()
        earlier = self._journal.child_entry(child_id)
        if earlier is not None and earlier.outcome is not None:  # ended in an earlier run
            outcome = asyncio.get_running_loop().create_future()
            outcome.set_result(earlier.outcome)
            handle = TaskHandle(child_id, agent, outcome, convert, self._child_control)
        else:
            waiting = self._waiter.expect_child(child_id)
            handle = TaskHandle(child_id, agent, waiting, convert, self._child_control)
        self._add_child(handle)
        if earlier is None:  # not started by an earlier run of this task
            await submit_task(self._publisher, request, agent)
            await self._journal.record_child_started(child_id, agent)
            await self._recorder.record(EventKind.DELEGATED, child=(child_id, agent))
        return handle

    def _add_child(self, handle: TaskHandle[Any]) -> None:
        for watcher in self._progress_watchers or ():  # before the child can report anything
            watcher.watch(handle.task_id)
        if self._children is None:
            self._children = []
        self._children.append(handle)

    def _child_request(
        self, child_id: str, input: BaseModel, deadline: datetime | None
    ) -> Envelope:
        type_, version = REGISTRY.type_of(type(input))
        return Envelope(
            type=type_,
            version=version,
            task_id=child_id,
            parent_task_id=self.task_id,
            root_task_id=self.root_task_id,
            correlation_id=self.request.correlation_id or self.root_task_id,
            causation_id=self.request.id,
            source=self._publisher.source,
            reply_to=self._publisher.topics.inbox(self.agent.name),
            deadline=deadline,
            priority=self.request.priority,
            tenant=self.request.tenant,
            budget=self.chat.budget,  # the root's: children draw from it (ADR 025)
            traceparent=self.request.traceparent,
            payload=input.model_dump(mode="json"),
        )

    @overload
    async def step(
        self, name: str, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    @overload
    async def step(
        self, name: str, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def step(self, name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run a side effect once per task and return its result.

        `await ctx.step("charge", payments.charge, order, key=ctx.step_key("charge"))`
        calls `payments.charge(order, key=...)` (sync or async) the first time; the
        result is journaled before `step` returns. When this task runs again (a
        re-delivery after a crash or rebalance, or a retry), `step` returns the
        journaled result without calling `fn`. A crash after the effect and before
        the journal write runs `fn` again: pass `step_key(name)` to the system you
        call as its idempotency key, so that run changes nothing.

        The result is journaled as JSON (models are dumped), at most MESH_MAX_STEP_BYTES:
        journal a reference (a row id, an object key), not a whole document. Ran or
        replayed, `step` returns that JSON validated into `fn`'s return annotation (a
        model comes back as the model; mesh/_steps.py). A function without one (a
        lambda) gets the JSON back, so it must return JSON, not a model.

        Raises:
            SetupError: the same step name twice in one run; or `fn` has no return
                annotation and returned a pydantic model (a replay could not rebuild it).
            StepTooLarge: the result is over the limit (permanent: dead-lettered).
            pydantic.ValidationError: the result does not fit `fn`'s return annotation.
        """
        if self._steps_run is None:
            self._steps_run = set()
        if name in self._steps_run:
            raise SetupError(
                f"step {name!r} ran twice in one run of task {self.task_id}; give each "
                "step of a task its own name, e.g. f'charge-{item_id}'"
            )
        self._steps_run.add(name)
        self.last_activity = utc_now()
        adapter = return_adapter(fn)
        done, value = self._journal.step_result(name)
        if done:
            return value if adapter is None else adapter.validate_python(value)
        async with self._fence.effect():
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            limit = self._publisher.settings.max_step_bytes
            value = journalable(name, result, self.task_id, typed=adapter is not None, limit=limit)
            typed = value if adapter is None else adapter.validate_python(value)
            await self._journal.record_step(name, value)
        return typed

    def step_key(self, name: str) -> str:
        """The idempotency key of step `name` of this task: the same on every run."""
        return f"{self.task_id}/{name}"

    gather = gather  # wait for several children at once (mesh/handles.py)

    async def progress(self, message: str = "", **data: Any) -> None:
        """Report a partial result; it shows in the task's state and event stream."""
        entry = ProgressEntry(at=utc_now(), message=message, data=data)
        self.last_activity = entry.at
        await self._recorder.record(EventKind.PROGRESS, progress=entry)

    async def escalate(self, question: str, *, timeout: float | None = None) -> Steer | None:
        """Hand the task to a human and wait for the answer.

        The task shows `waiting` with `question` (`mesh task`, the gateway) until
        someone answers with `mesh resume TASK "text"` or `client.resume(...)`; the
        answer is returned (None after `timeout` seconds) and the task runs on. While
        it waits, the supervisor does not take it for stuck.
        """
        await self._recorder.record(EventKind.WAITING, waiting_for=question)
        answer = await self.next_steer(timeout=timeout)
        self.last_activity = utc_now()
        await self._recorder.record(EventKind.RESUMED, steer=answer)
        return answer

    # -- receiving (and `next_steer`, `pending_steers`: mesh/steering.py) ---------

    @property
    def children(self) -> list[TaskHandle[Any]]:
        return list(self._children or ())

    def children_progress(self) -> AbstractAsyncContextManager[ChildrenProgress]:
        """Follow this task's children's progress entries as they report them:
        `async with ctx.children_progress() as live: await live.wait(timeout=1.0)`."""
        if self._progress_watchers is None:
            self._progress_watchers = []
        return children_progress(self, self._publisher, self._progress_watchers)
