"""`QueueDriver`: starts each thread's queued runs, one at a time, on exactly one gateway.

Gateways join one consumer group on the threads topic; a thread's records all live on
one partition, so the member that owns that partition is the only one that starts
the thread's next run when the one before it ends (ADR 012). A rebalance hands the
partition, and so the queue, to another member; a run it submits twice by accident
is one task (the run id is the task's idempotency key).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from mesh._background import BackgroundTask
from mesh.client import Client
from mesh.errors import InvalidInput, MeshError, UnknownAgent
from mesh.gateway.langgraph._budget import run_budget
from mesh.gateway.langgraph._conversation import Conversation, RunView
from mesh.gateway.langgraph._thread_locks import ThreadLocks
from mesh.gateway.langgraph._threads import ThreadStore
from mesh.transport.base import Consumer, TopicPartition, Transport
from schemas.envelope import utc_now
from schemas.tasks import AgentCard

log = logging.getLogger(__name__)

_SCAN_INTERVAL = 0.1  # seconds between looks at owned threads for a run to start
# A stateless run's thread is deleted this long after its last change: long enough for
# its waiting or streaming requests, polling every 0.5 s at most, to read the answer.
DELETE_GRACE = 60.0


class QueueDriver:
    def __init__(self, transport: Transport, client: Client, store: ThreadStore) -> None:
        self._client = client
        self._store = store
        self._membership: Consumer = transport.consumer(
            [store.topic], group=client.publisher.topics.langgraph_queue_drivers
        )
        self._locked = ThreadLocks()
        self._loop = BackgroundTask("langgraph-queue-driver", logger=log)
        self._caught_up_with: frozenset[TopicPartition] = frozenset()

    async def start(self) -> None:
        """Join the group in the background: until this member owns partitions (a
        few seconds), the runs it would start wait `pending`."""
        await self._membership.start()
        self._loop.start(self._drive_owned())

    async def stop(self) -> None:
        await self._loop.stop()
        await self._membership.stop()

    def owns(self, thread_id: str) -> bool:
        owned = TopicPartition(self._store.topic, self._store.partition_of(thread_id))
        return owned in self._membership.assignment()

    async def drive(self, thread_id: str) -> None:
        """Start the thread's oldest queued run if no run holds the thread (owner only)."""
        if not self.owns(thread_id):
            return
        async with self._locked(thread_id):
            await self._catch_up_after_rebalance()
            now = self._store.conversation(thread_id, self._client.view)
            if now is None or any(run.blocks_thread and run.submitted for run in now.runs):
                return
            if not any(_is_queued(run) for run in now.runs):
                return
            # Its cancel may have been written a moment ago, as the run it waited for
            # ended (cancel_many cancels the queued run, then the running one): read the
            # threads topic to its end before starting it. Found by the SDK tests.
            await self._store.catch_up()
            now = self._store.conversation(thread_id, self._client.view)
            if now is None:
                return
            queued = next((run for run in now.runs if _is_queued(run)), None)
            if queued is not None:
                await self._submit(now, queued)

    async def _catch_up_after_rebalance(self) -> None:
        """Once per new assignment, read the task states up to now: a run the previous
        owner submitted must not look queued here, or submitting it again would write
        its `submitted` state over its progress."""
        assignment = self._membership.assignment()
        if assignment != self._caught_up_with:
            await self._store.catch_up()
            await self._client.view.catch_up()
            self._caught_up_with = assignment

    async def _submit(self, now: Conversation, run: RunView) -> None:
        record = run.record
        try:
            card = self._client.agent(record.assistant_id)
            payload = task_input(card, now.history_before(record.run_id), record.input)
            budget = run_budget(record.config)  # validated when the run was created
            # The thread's tenant, as a native submit carries its caller's (ADR 046).
            await self._client.submit(
                record.assistant_id,
                payload,
                idempotency_key=record.run_id,
                budget=budget,
                tenant=now.thread.tenant,
            )
        except (UnknownAgent, InvalidInput) as exc:  # the agent is gone, or the input misfits
            log.warning("run %s cannot start: %s", record.run_id, exc)
            ended = record.model_copy(update={"ended_as": "error", "error": str(exc)})
            await self._store.put_runs(record.thread_id, [ended])

    async def _drive_owned(self) -> None:
        # Fetching keeps this member in the group; the records themselves are read by
        # the store. A run ending shows in the task view, so owned threads are scanned.
        while True:
            try:
                await self._membership.fetch(timeout=_SCAN_INTERVAL, max_records=1000)
                for thread_id in self._threads_with_queued_runs():
                    await self.drive(thread_id)
                await self._delete_finished_stateless_threads()
            except (MeshError, TimeoutError) as exc:  # the broker; the next round retries
                log.warning("queued runs not started this round: %s", exc)
                await asyncio.sleep(_SCAN_INTERVAL)

    async def _delete_finished_stateless_threads(self) -> None:
        before = utc_now() - timedelta(seconds=DELETE_GRACE)
        for thread_id in list(self._store.disposable):
            if not self.owns(thread_id):
                continue
            now = self._store.conversation(thread_id, self._client.view)
            if now is not None and now.ended_before(before):
                await self._store.delete_thread(thread_id)

    def _threads_with_queued_runs(self) -> list[str]:
        """Owned threads with a run not yet submitted (those submitted are forgotten)."""
        found = []
        for thread_id, run_ids in list(self._store.unstarted.items()):
            if not self.owns(thread_id):
                continue
            runs = self._store.runs_by_id(thread_id)
            for run_id in list(run_ids):
                run = runs.get(run_id)
                if run is None or self._client.view.by_idempotency_key.get(
                    (run.assistant_id, run_id)
                ):
                    self._store.forget_unstarted(thread_id, run_id)
            if thread_id in self._store.unstarted:
                found.append(thread_id)
        return found


def _is_queued(run: RunView) -> bool:
    record = run.record
    return (
        not run.submitted
        and record.resumes_task_id is None
        and record.ended_as is None
        and not record.cancel_requested
    )


def task_input(
    card: AgentCard, history: list[dict[str, Any]], run_input: dict[str, Any]
) -> dict[str, Any]:
    """A run's input as the agent's task input.

    Its `messages` follow the thread's history when the agent takes `messages`;
    otherwise the last user message fills the agent's one required text field (so a
    `{"query": ...}` agent can be asked in plain words), and other input keys pass as
    they are.
    """
    payload = {key: value for key, value in run_input.items() if key != "messages"}
    messages = [*history, *(run_input.get("messages") or [])]
    properties = (card.input_schema or {}).get("properties", {})
    if "messages" in properties:
        payload["messages"] = messages
        return payload
    required = [
        name
        for name in (card.input_schema or {}).get("required", [])
        if properties.get(name, {}).get("type") == "string" and name not in payload
    ]
    text = last_user_text(messages)
    if len(required) == 1 and text is not None:
        payload[required[0]] = text
    return payload


def last_user_text(messages: list[dict[str, Any]]) -> str | None:
    for message in reversed(messages):
        if message.get("role", message.get("type")) in ("user", "human"):
            content = message.get("content")
            return content if isinstance(content, str) else str(content)
    return None
