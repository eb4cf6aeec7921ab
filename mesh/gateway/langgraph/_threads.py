"""`ThreadStore`: LangGraph-API threads and runs in a compacted topic, and a local view.

Every gateway follows the whole topic from the start (no consumer group), so a
thread created through one gateway is read through any other; reads are dictionary
lookups. A thread and its runs are written under separate keys (no read-modify-write
of a shared record, so two gateways adding runs to one thread lose neither) but on
one partition, chosen from the thread id, so a thread's records keep their order
and one queue driver owns them all (mesh/gateway/langgraph/_run_queue.py, ADR 012).
"""

from __future__ import annotations

import dataclasses
import logging
import zlib

from pydantic import BaseModel, ValidationError

from mesh.gateway.langgraph._conversation import Conversation, conversation
from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from mesh.views.tasks import TaskView
from schemas import Envelope, decode_envelope
from schemas.envelope import utc_now
from schemas.langgraph import RUN, THREAD, RunRecord, ThreadRecord
from schemas.tasks import TaskState

log = logging.getLogger(__name__)


class ThreadStore(TopicFollower):
    """Threads and their runs: written to the threads topic, read from a local copy."""

    def __init__(self, transport: Transport, publisher: Publisher, *, partitions: int) -> None:
        self._publisher = publisher
        self.topic = publisher.topics.langgraph_threads
        self._partitions = partitions
        super().__init__(transport, [self.topic], name="thread-store")
        self.threads: dict[str, ThreadRecord] = {}
        self._runs: dict[str, dict[str, RunRecord]] = {}
        # Runs that may still wait for their task to be submitted, by thread: the queue
        # driver looks only at these threads, and forgets a run once it has started.
        self.unstarted: dict[str, set[str]] = {}
        self.disposable: set[str] = set()  # threads to delete once their runs have ended
        self.webhooks_due: set[tuple[str, str]] = set()  # (thread, run) with a webhook to send
        # Record keys with a write of ours not read back yet: the id of our latest.
        self._awaiting_echo: dict[str, str] = {}
        self._run_ids: set[str] = set()  # of every stored run (its task's idempotency key)

    async def start(self) -> None:
        await super().start()
        await self.catch_up()

    def shows_task(self, state: TaskState) -> bool:
        """A stored thread's run follows this task (submitted with the run's id as its
        idempotency key): the gateway's view keeps it while the thread shows it."""
        return state.idempotency_key is not None and state.idempotency_key in self._run_ids

    def partition_of(self, thread_id: str) -> int:
        return zlib.crc32(thread_id.encode()) % self._partitions

    # -- reading ---------------------------------------------------------------------

    async def find(self, thread_id: str) -> ThreadRecord | None:
        """The thread, after catching up once if this gateway has not seen it yet (it
        may have been created through another gateway a moment ago)."""
        if thread_id not in self.threads:
            await self.catch_up()
        return self.threads.get(thread_id)

    def forget_unstarted(self, thread_id: str, run_id: str) -> None:
        runs = self.unstarted.get(thread_id)
        if runs is not None:
            runs.discard(run_id)
            if not runs:
                del self.unstarted[thread_id]

    def runs_of(self, thread_id: str) -> list[RunRecord]:
        """Oldest first."""
        runs = self._runs.get(thread_id, {})
        return sorted(runs.values(), key=lambda run: run.created_at)

    def conversation(self, thread_id: str, tasks: TaskView) -> Conversation | None:
        """The thread as of now, with its runs' tasks (None: unknown or deleted)."""
        thread = self.threads.get(thread_id)
        return None if thread is None else conversation(thread, self.runs_of(thread_id), tasks)

    def runs_by_id(self, thread_id: str) -> dict[str, RunRecord]:
        return self._runs.get(thread_id, {})

    # -- writing ---------------------------------------------------------------------

    async def put_thread(self, thread: ThreadRecord) -> None:
        await self._write([(thread.thread_id, THREAD, thread)], thread.thread_id)

    async def delete_thread(self, thread_id: str) -> None:
        """Mark it deleted; its runs are dropped from every view (their tasks stay)."""
        thread = self.threads[thread_id]
        marker = thread.model_copy(update={"deleted_at": utc_now(), "updated_at": utc_now()})
        await self._write([(thread_id, THREAD, marker)], thread_id)

    async def put_runs(self, thread_id: str, runs: list[RunRecord]) -> None:
        """Write run records in order (they land on the thread's partition together)."""
        await self._write([(_run_key(run), RUN, run) for run in runs], thread_id)

    async def _write(self, items: list[tuple[str, str, BaseModel]], thread_id: str) -> None:
        """Publish, then apply each record here at once (read-your-writes).

        Until the follower reads a write of ours back, it skips the records it reads
        under the same key: they come before ours in the partition, so ours replaces
        them (a lagging follower must not bring back a thread we just deleted by
        applying its creation). Our own record, once read, is applied; what follows
        it, written by another gateway, is newer and is applied as usual.
        """
        envelopes = [(key, self._envelope(type_, model), model) for key, type_, model in items]
        earlier = {key: self._awaiting_echo.get(key) for key, _, _ in envelopes}
        self._awaiting_echo.update({key: envelope.id for key, envelope, _ in envelopes})
        try:
            await self._publish([(key, envelope) for key, envelope, _ in envelopes], thread_id)
        except BaseException:
            for key, envelope, _ in envelopes:  # nothing of ours will come back
                if self._awaiting_echo.get(key) == envelope.id:
                    self._forget_echo(key, earlier[key])
            raise
        for key, envelope, model in envelopes:
            if self._awaiting_echo.get(key) == envelope.id:  # not read back yet
                self._apply_model(model)

    def _envelope(self, type_: str, model: BaseModel) -> Envelope:
        return Envelope(
            type=type_, source=self._publisher.source, payload=model.model_dump(mode="json")
        )

    def _forget_echo(self, key: str, earlier: str | None) -> None:
        if earlier is None:
            self._awaiting_echo.pop(key, None)
        else:
            self._awaiting_echo[key] = earlier

    async def _publish(self, items: list[tuple[str, Envelope]], thread_id: str) -> None:
        partition = self.partition_of(thread_id)
        records = [
            dataclasses.replace(
                self._publisher.encode(self.topic, envelope, key=key), partition=partition
            )
            for key, envelope in items
        ]
        await self._publisher.send_many(records)

    # -- following -------------------------------------------------------------------

    def _on_record(self, record: Delivery) -> None:
        if record.value is None:
            return
        try:
            envelope = decode_envelope(record.value)
        except ValueError as exc:
            log.warning("skipping an unreadable thread record: %s", exc)
            return
        key = record.key.decode() if record.key is not None else ""
        awaited = self._awaiting_echo.get(key)
        if awaited is not None:
            if envelope.id != awaited:
                return  # older than the write of ours that this gateway already shows
            del self._awaiting_echo[key]
        self._apply(envelope)

    def _apply(self, envelope: Envelope) -> None:
        try:
            if envelope.type == THREAD:
                self._apply_model(ThreadRecord.model_validate(envelope.payload))
            elif envelope.type == RUN:
                self._apply_model(RunRecord.model_validate(envelope.payload))
        except ValidationError as exc:
            log.warning("skipping an unreadable thread record: %s", exc)

    def _apply_model(self, model: BaseModel) -> None:
        if isinstance(model, ThreadRecord):
            self._apply_thread(model, deleted=model.deleted_at is not None)
        elif isinstance(model, RunRecord):
            self._apply_run(model)

    def _apply_thread(self, thread: ThreadRecord, *, deleted: bool) -> None:
        if deleted:
            self.threads.pop(thread.thread_id, None)
            self._run_ids.difference_update(self._runs.pop(thread.thread_id, {}))
            self.unstarted.pop(thread.thread_id, None)
            self.disposable.discard(thread.thread_id)
            self.webhooks_due = {due for due in self.webhooks_due if due[0] != thread.thread_id}
            return
        if thread.delete_when_done:
            self.disposable.add(thread.thread_id)
        known = self.threads.get(thread.thread_id)
        if known is None or known.created_at != thread.created_at:
            # A new thread under an id used before: runs of the old one stay out.
            runs = self._runs.get(thread.thread_id, {})
            self._runs[thread.thread_id] = {
                rid: run for rid, run in runs.items() if run.created_at >= thread.created_at
            }
            self._run_ids.difference_update(runs.keys() - self._runs[thread.thread_id].keys())
        self.threads[thread.thread_id] = thread

    def _apply_run(self, run: RunRecord) -> None:
        self._runs.setdefault(run.thread_id, {})[run.run_id] = run
        self._run_ids.add(run.run_id)
        if run.resumes_task_id is None and run.ended_as is None and not run.cancel_requested:
            self.unstarted.setdefault(run.thread_id, set()).add(run.run_id)
        else:
            self.forget_unstarted(run.thread_id, run.run_id)
        if run.webhook is not None and run.webhook_status is None:
            self.webhooks_due.add((run.thread_id, run.run_id))
        else:
            self.webhooks_due.discard((run.thread_id, run.run_id))


def _run_key(run: RunRecord) -> str:
    return f"{run.thread_id}/{run.run_id}"
