"""`LangGraphService`: threads and runs as the LangGraph API's routes ask for them.

Creating a run applies the thread's multitask strategy (ADR 012):
- `reject`: 409 while a run holds the thread;
- `interrupt` (and `rollback`, treated alike): the runs holding the thread are
  cancelled (they end `interrupted`) and the new one starts at once;
- `enqueue` (the default): the run waits, `pending`, until those before it ended.
The run is only written down here; the thread's queue driver submits it.
A run with `command={"resume": ...}` answers the thread's task waiting for a human.

Each method takes the caller (`Principal`): a thread belongs to the tenant of the
caller that made it (ADR 046), and another tenant's thread, with its runs, is
answered exactly as an unknown one (404).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from mesh._validation import validated_input
from mesh.client import Client
from mesh.errors import InvalidInput, UnknownAgent
from mesh.gateway._problems import ProblemError, invalid_fields
from mesh.gateway._webhook_delivery import refuse_without_secret
from mesh.gateway.auth import Principal
from mesh.gateway.langgraph._budget import run_budget
from mesh.gateway.langgraph._conversation import IN_FLIGHT, Conversation, RunView, conversation
from mesh.gateway.langgraph._run_queue import QueueDriver, task_input
from mesh.gateway.langgraph._thread_locks import ThreadLocks
from mesh.gateway.langgraph._threads import ThreadStore
from mesh.gateway.langgraph._wire import RunCreate, ThreadCreate
from mesh.views.tokens import TokenFeed
from schemas.envelope import utc_now
from schemas.langgraph import RunRecord, ThreadRecord
from schemas.tasks import AgentCard

# Seconds between looks at a run that a request waits for: the views are local, so
# looking is cheap, but many waiting requests should not spin.
_FIRST_POLL = 0.02
_LAST_POLL = 0.5


class LangGraphService:
    def __init__(
        self,
        client: Client,
        store: ThreadStore,
        driver: QueueDriver,
        *,
        tokens: TokenFeed | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.driver = driver
        self.tokens = tokens  # runs' streamed model tokens (`messages` stream modes)
        self._locked = ThreadLocks()  # one decision about a thread at a time, here

    # -- threads ---------------------------------------------------------------------

    async def create_thread(
        self, body: ThreadCreate, *, caller: Principal, delete_when_done: bool = False
    ) -> ThreadRecord:
        if body.thread_id is not None:
            existing = await self.store.find(body.thread_id)
            if existing is not None:
                if body.if_exists == "do_nothing" and caller.sees(existing.tenant):
                    return existing
                # Another tenant's: taken all the same (thread ids are not per tenant),
                # and no more is said of it than of the caller's own.
                reason = f"thread {body.thread_id!r} already exists"
                raise ProblemError(409, "body.thread_id", reason)
        now = utc_now()
        thread = ThreadRecord(
            thread_id=body.thread_id or str(uuid.uuid4()),
            metadata=body.metadata,
            created_at=now,
            updated_at=now,
            delete_when_done=delete_when_done,
            tenant=caller.tenant,
        )
        await self.store.put_thread(thread)
        return thread

    async def thread(self, thread_id: str, *, caller: Principal) -> Conversation:
        """The thread as of now, if `caller` may see it; else 404, as an unknown one."""
        thread = await self.store.find(thread_id)
        if thread is None or not caller.sees(thread.tenant):
            raise ProblemError(404, "thread_id", f"thread {thread_id!r} not found")
        return self.now(thread)

    def threads(self, caller: Principal) -> list[ThreadRecord]:
        """The threads `caller` may see, newest first."""
        mine = [t for t in self.store.threads.values() if caller.sees(t.tenant)]
        return sorted(mine, key=lambda thread: thread.created_at, reverse=True)

    def now(self, thread: ThreadRecord) -> Conversation:
        return conversation(thread, self.store.runs_of(thread.thread_id), self.client.view)

    async def delete_thread(self, thread_id: str, *, caller: Principal) -> None:
        now = await self.thread(thread_id, caller=caller)
        await self.store.delete_thread(thread_id)
        for run in now.runs:
            if run.status in IN_FLIGHT and run.task is not None:
                await self.client.cancel(run.task.task_id, "its thread was deleted")

    # -- runs ------------------------------------------------------------------------

    async def run(
        self, thread_id: str, run_id: str, *, caller: Principal
    ) -> tuple[Conversation, RunView]:
        now = await self.thread(thread_id, caller=caller)
        if now.run(run_id) is None:  # perhaps created through another gateway just now
            await self.store.catch_up()
            now = await self.thread(thread_id, caller=caller)
        run = now.run(run_id)
        if run is None:
            raise ProblemError(404, "run_id", f"run {run_id!r} not found on thread {thread_id!r}")
        return now, run

    async def create_run(self, thread_id: str, body: RunCreate, *, caller: Principal) -> RunView:
        card = self._assistant(body.assistant_id)
        self._check_webhook(body)
        run_budget(body.config or {})  # a bad budget is a 422 now, not a failed run later
        thread = await self.store.find(thread_id)
        if thread is None or not caller.sees(thread.tenant):
            if body.if_not_exists != "create":
                raise ProblemError(404, "thread_id", f"thread {thread_id!r} not found")
            self._check_new_thread_run(card, body)
            thread = await self.create_thread(ThreadCreate(thread_id=thread_id), caller=caller)
        record = RunRecord(
            run_id=str(uuid.uuid4()),
            thread_id=thread_id,
            assistant_id=card.name,
            created_at=utc_now(),
            multitask_strategy=body.multitask_strategy,
            input=body.input or {},
            command=body.command,
            config=body.config or {},
            metadata=body.metadata or {},
            webhook=str(body.webhook) if body.webhook is not None else None,
        )
        async with self._locked(thread_id):
            now = self.now(thread)
            if body.command is not None and "resume" in body.command:
                record = await self._resume(now, record, body.command["resume"])
            else:
                _check_input(card, task_input(card, now.messages, record.input))
                await self._start_or_queue(now, record)
        _, run = await self.run(thread_id, record.run_id, caller=caller)
        return run

    async def create_stateless_run(self, body: RunCreate, *, caller: Principal) -> RunView:
        """A run on a thread of its own (`POST /runs`); with `on_completion="delete"`
        (the default) the thread goes once the run has ended
        (mesh/gateway/langgraph/_run_queue.py)."""
        self._check_new_thread_run(self._assistant(body.assistant_id), body)
        self._check_webhook(body)
        delete = body.on_completion == "delete"
        thread = await self.create_thread(ThreadCreate(), caller=caller, delete_when_done=delete)
        return await self.create_run(thread.thread_id, body, caller=caller)

    @staticmethod
    def _check_new_thread_run(card: AgentCard, body: RunCreate) -> None:
        """What refuses a run on a thread about to be made, checked before it is made:
        a refused request leaves nothing behind (no thread of its own making)."""
        if body.command is not None and "resume" in body.command:
            raise ProblemError(409, "body.command.resume", "a new thread has no question to resume")
        _check_input(card, task_input(card, [], body.input or {}))

    def _check_webhook(self, body: RunCreate) -> None:
        """Its deliveries are signed (mesh/gateway/_webhook_delivery.py): no webhook
        without a secret, as the native API."""
        if body.webhook is not None:
            refuse_without_secret(self.client.settings)

    async def _start_or_queue(self, now: Conversation, record: RunRecord) -> None:
        holding = [run for run in now.runs if run.blocks_thread]
        if holding and record.multitask_strategy == "reject":
            raise ProblemError(
                409, "thread_id", f"thread {record.thread_id!r} is already running a task (reject)"
            )
        superseded = holding if record.multitask_strategy in ("interrupt", "rollback") else []
        updates = [run.record.model_copy(update={"cancel_requested": True}) for run in superseded]
        waiting = now.waiting_run  # a question nobody will answer now: the run ended there
        if waiting is not None:
            updates.append(waiting.record.model_copy(update={"ended_as": "success"}))
        await self.store.put_runs(record.thread_id, [*updates, record])
        for run in [*superseded, *([waiting] if waiting else [])]:
            if run.task is not None and not run.task.status.is_terminal:
                await self.client.cancel(run.task.task_id, f"superseded by run {record.run_id}")
        await self.driver.drive(record.thread_id)

    async def _resume(self, now: Conversation, record: RunRecord, answer: Any) -> RunRecord:
        waiting = now.waiting_run
        if waiting is None or waiting.task is None:
            reason = f"thread {record.thread_id!r} has no question to resume"
            raise ProblemError(409, "body.command.resume", reason)
        task = waiting.task
        text, data = _answer(answer)
        try:
            await self.client.resume(task.task_id, text, **data)
        except InvalidInput as exc:  # it stopped waiting (answered, cancelled) meanwhile
            raise ProblemError(409, "body.command.resume", str(exc)) from None
        record = record.model_copy(
            update={"resumes_task_id": task.task_id, "resumes_waiting_since": task.updated_at}
        )
        await self.store.put_runs(record.thread_id, [record])
        return record

    async def cancel_run(self, thread_id: str, run_id: str, *, caller: Principal) -> None:
        """Cancel a pending or running run; it ends `interrupted` (a no-op once ended)."""
        async with self._locked(thread_id):
            _, run = await self.run(thread_id, run_id, caller=caller)
            if run.status not in IN_FLIGHT:
                return
            cancelled = run.record.model_copy(update={"cancel_requested": True})
            await self.store.put_runs(thread_id, [cancelled])
        # It may have been submitted meanwhile.
        _, run = await self.run(thread_id, run_id, caller=caller)
        if run.task is not None and not run.task.status.is_terminal:
            await self.client.cancel(run.task.task_id, f"run {run_id} cancelled by client")

    async def cancel_many(
        self,
        thread_id: str | None,
        run_ids: list[str] | None,
        status: str | None,
        *,
        caller: Principal,
    ) -> None:
        """Cancel the in-flight runs of one thread (or of all the caller's), only
        `run_ids` if given, only those `pending` or `running` if `status` says so."""
        if thread_id is not None:
            threads = [(await self.thread(thread_id, caller=caller)).thread]
        else:
            threads = self.threads(caller)
        for thread in threads:
            # Newest first: a queued run is cancelled before the run it waits for ends.
            for run in reversed(self.now(thread).runs):
                chosen = run_ids is None or run.record.run_id in run_ids
                if chosen and run.status in IN_FLIGHT and status in (None, "all", run.status):
                    await self.cancel_run(thread.thread_id, run.record.run_id, caller=caller)

    async def ended(
        self, thread_id: str, run_id: str, *, caller: Principal
    ) -> tuple[Conversation, RunView]:
        """The thread and the run once the run has ended (or waits for a human)."""
        async with contextlib.aclosing(self.watch(thread_id, run_id, caller=caller)) as looks:
            async for now, run in looks:
                if run.status not in IN_FLIGHT:
                    return now, run
        raise AssertionError("unreachable: watch() never ends")

    async def watch(
        self,
        thread_id: str,
        run_id: str,
        *,
        caller: Principal,
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> AsyncGenerator[tuple[Conversation, RunView]]:
        """The thread and the run, again and again: soon after each other at first,
        then less often (a long run is looked at twice a second). `pause(seconds)`
        waits between looks (it may return sooner: a streamed token came)."""
        delay = _FIRST_POLL
        while True:
            yield await self.run(thread_id, run_id, caller=caller)
            await pause(delay)
            delay = min(delay * 1.5, _LAST_POLL)

    # -- assistants ------------------------------------------------------------------

    def assistants(self) -> list[AgentCard]:
        return [card for card in self.client.agents() if card.task_type]

    def _assistant(self, assistant_id: str) -> AgentCard:
        try:
            return self.client.agent(assistant_id)
        except UnknownAgent as exc:
            # 404, as the LangGraph server answers (its SDK raises NotFoundError); the
            # problem's field tells it from an unknown thread.
            raise ProblemError(404, "body.assistant_id", str(exc)) from None


def _check_input(card: AgentCard, payload: dict[str, Any]) -> None:
    """422 naming each field, before anything is written, when the input does not fit
    the agent's model or input schema (mesh/_validation.py)."""
    try:
        validated_input(card, payload)
    except InvalidInput as exc:
        raise invalid_fields(("body", "input"), exc.errors, str(exc)) from None


def _answer(resume: Any) -> tuple[str, dict[str, Any]]:
    """`command.resume` as a steering message: a string is its text, a dict its data
    (with `text` as the text), anything else `{"value": ...}`."""
    if isinstance(resume, str):
        return resume, {}
    if isinstance(resume, dict):
        data = {key: value for key, value in resume.items() if key != "text"}
        return str(resume.get("text", "")), data
    return "", {"value": resume}
