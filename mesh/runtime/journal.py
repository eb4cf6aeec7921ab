"""The task journal: what a re-delivered task must not do again (ADR 009).

Kafka delivers at least once: when a worker dies, or loses a partition in a
rebalance, before it commits, the next owner reads its tasks again. The journal
makes that harmless. Each agent type has one compacted topic,
`mesh.agent.<name>.journal`, partitioned like its inbox: a task's entries go to the
partition number its request was read from. Range assignment gives partition N of
the inbox, of the retry tiers and so of the journal to one worker, the only writer of
that journal partition; a worker reads its journal partitions into memory when it is
assigned them, before it runs their tasks.

Entries, keyed so that compaction keeps the latest of each:
- `<task>` -> the task's last run ended (attempt, replay, status): the deduplication
  record. A request for a run that has ended is a duplicate and is skipped.
- `<task>/step/<name>` -> a durable step's result: a re-run returns it instead of
  running the step again.
- `<task>/child/<child>` -> a delegated child was started, or ended with an outcome:
  a re-run parent re-attaches to it instead of starting it again.
- `adopted:<task>` -> a domain event read from this partition (of the agent's domain
  topic) was adopted as task `<task>`: a re-delivered or re-sent event is not
  submitted again, which would write a `submitted` state over the task's newer one.

Each entry is written before what it protects is committed: the ended record after
the task's outcome records are acknowledged and before its offset is committed, a
step's result before the step returns, a child's outcome before the offset of the
result record. Memory holds the entries of the owned partitions; a finished task
keeps only its ended record (a dead-lettered one keeps its steps for a replay), and
ended records are forgotten after `journal_retention`, the deduplication window.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from mesh.runtime._write_batch import WriteBatch
from mesh.runtime.publisher import Publisher
from mesh.transport.base import Delivery, Outgoing, TopicPartition
from schemas import Envelope
from schemas.tasks import TaskOutcome, TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ended:
    """A run of a task ended: `attempt` of `replay`, with `status`, at `at` (epoch s)."""

    attempt: int
    replay: int
    status: TaskStatus
    at: float

    def covers(self, request: Envelope) -> bool:
        """Whether `request` asks for a run that has already ended (a duplicate)."""
        if request.replay != self.replay:
            return request.replay < self.replay
        return self.status.is_terminal or request.attempt <= self.attempt


@dataclass(frozen=True, slots=True)
class ChildEntry:
    agent: str
    outcome: TaskOutcome | None = None  # None: started, not ended yet


@dataclass(slots=True)
class TaskEntries:
    ended: Ended | None = None
    steps: dict[str, Any] = field(default_factory=dict)
    children: dict[str, ChildEntry] = field(default_factory=dict)


class TaskJournal:
    """One task's entries, as its context sees them: steps and children."""

    def __init__(self, journal: Journal, partition: int, task_id: str) -> None:
        self._journal = journal
        self._partition = partition
        self._task_id = task_id

    def step_result(self, name: str) -> tuple[bool, Any]:
        """(True, result) for a step an earlier run of this task completed."""
        entries = self._journal.entries(self._partition, self._task_id)
        if entries is None or name not in entries.steps:
            return False, None
        return True, entries.steps[name]

    async def record_step(self, name: str, value: Any) -> None:
        await self._journal.record_step(self._partition, self._task_id, name, value)

    def child_entry(self, child_id: str) -> ChildEntry | None:
        entries = self._journal.entries(self._partition, self._task_id)
        return entries.children.get(child_id) if entries is not None else None

    async def record_child_started(self, child_id: str, agent: str) -> None:
        await self._journal.record_child(self._partition, self._task_id, child_id, agent, None)


class Journal:
    """The journal partitions a worker owns, in memory, and the writes to them."""

    def __init__(self, publisher: Publisher, agent: str) -> None:
        self._publisher = publisher
        self._writes = WriteBatch(publisher)
        self.enabled = publisher.settings.journal_enabled
        self.topic = publisher.topics.journal(agent)
        self._retention = publisher.settings.journal_retention
        self._partitions: dict[int, dict[str, TaskEntries]] = {}
        self._ended_order: dict[int, deque[tuple[float, str]]] = {}

    # -- owning partitions -----------------------------------------------------------

    def partitions(self) -> set[int]:
        return set(self._partitions)

    async def load(self, partitions: Iterable[int]) -> None:
        """Read the given partitions (those not already held) from the start."""
        new = sorted(p for p in set(partitions) if p not in self._partitions)
        if not self.enabled or not new:
            return
        started = time.monotonic()
        records = await self._publisher.transport.read_partitions(
            [TopicPartition(self.topic, p) for p in new]
        )
        for p in new:
            self._partitions[p] = {}
            self._ended_order[p] = deque()
        for record in records:
            self._apply(record)
        for p in new:
            self._expire(p)
        log.info(
            "journal partitions %s loaded: %d entries in %.2fs",
            new,
            len(records),
            time.monotonic() - started,
        )

    def forget(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self._partitions.pop(p, None)
            self._ended_order.pop(p, None)

    # -- reading ---------------------------------------------------------------------

    def is_duplicate(self, partition: int, request: Envelope) -> bool:
        entries = self._entries(partition, request.task_id or "")
        return entries is not None and entries.ended is not None and entries.ended.covers(request)

    def entries(self, partition: int, task_id: str) -> TaskEntries | None:
        return self._entries(partition, task_id)

    # -- writing ---------------------------------------------------------------------
    # Each write method changes memory at once and returns the write to await: a
    # reader on the event loop (a parent re-attaching to a child whose result was
    # just read) sees the entry before the broker has acknowledged it.

    def record_ended(
        self, partition: int, request: Envelope, status: TaskStatus
    ) -> Awaitable[None]:
        assert request.task_id is not None
        if not self.enabled:
            return _nothing()
        ended = Ended(request.attempt, request.replay, status, time.time())
        self._note_ended(partition, request.task_id, ended)
        value = {"kind": "ended", "attempt": ended.attempt, "replay": ended.replay}
        return self._write(partition, request.task_id, {**value, "status": str(status)})

    def record_adoption(self, partition: int, request: Envelope) -> Awaitable[None]:
        """The domain event read from `partition` was adopted as `request`'s task."""
        marker = request.model_copy(update={"task_id": _adoption_key(request)})
        return self.record_ended(partition, marker, TaskStatus.SUBMITTED)

    def was_adopted(self, partition: int, request: Envelope) -> bool:
        marker = request.model_copy(update={"task_id": _adoption_key(request)})
        return self.is_duplicate(partition, marker)

    def record_step(self, partition: int, task_id: str, name: str, value: Any) -> Awaitable[None]:
        if not self.enabled:
            return _nothing()
        self._task(partition, task_id).steps[name] = value
        return self._write(
            partition, f"{task_id}/step/{name}", {"kind": "step", "name": name, "value": value}
        )

    def record_child(
        self, partition: int, parent: str, child: str, agent: str, outcome: TaskOutcome | None
    ) -> Awaitable[None]:
        """Record that `child` was started (outcome None) or ended."""
        if not self.enabled:
            return _nothing()
        entries = self._task(partition, parent)
        if entries.ended is not None and entries.ended.status.is_terminal:
            return _nothing()  # the parent is over; nobody will ask
        known = entries.children.get(child)
        if outcome is None and known is not None:
            return _nothing()  # its outcome came first (a quick child); never overwrite it
        entries.children[child] = ChildEntry(agent, outcome)
        value: dict[str, Any] = {"kind": "child", "child": child, "agent": agent}
        if outcome is not None:
            value["outcome"] = outcome.model_dump(mode="json", exclude_none=True)
        return self._write(partition, f"{parent}/child/{child}", value)

    def _write(self, partition: int, key: str, value: dict[str, Any]) -> Awaitable[None]:
        """The entries written in one turn of the loop go out as one produce (the
        `ended` records of tasks that end together; mesh/runtime/_write_batch.py)."""
        task_id = key.split("/", 1)[0]
        record = Outgoing(
            self.topic,
            orjson.dumps(value),
            key.encode(),
            {"mesh-task-id": task_id.encode()},
            partition=partition,
        )
        return self._writes.write(record)

    # -- memory ----------------------------------------------------------------------

    def _entries(self, partition: int, task_id: str) -> TaskEntries | None:
        tasks = self._partitions.get(partition)
        return tasks.get(task_id) if tasks is not None else None

    def _task(self, partition: int, task_id: str) -> TaskEntries:
        tasks = self._partitions.setdefault(partition, {})
        entries = tasks.get(task_id)
        if entries is None:
            entries = tasks[task_id] = TaskEntries()
        return entries

    def _note_ended(self, partition: int, task_id: str, ended: Ended) -> None:
        entries = self._task(partition, task_id)
        entries.ended = ended
        if ended.status.is_terminal and ended.status is not TaskStatus.DEAD_LETTERED:
            entries.steps.clear()  # nothing will run again; keep memory to the ended record
            entries.children.clear()
        order = self._ended_order.setdefault(partition, deque())
        order.append((ended.at, task_id))
        if len(order) % 1024 == 0:
            self._expire(partition)

    def _expire(self, partition: int) -> None:
        """Forget tasks that ended before the deduplication window."""
        order = self._ended_order.get(partition)
        tasks = self._partitions.get(partition)
        if order is None or tasks is None:
            return
        cutoff = time.time() - self._retention
        while order and order[0][0] < cutoff:
            at, task_id = order.popleft()
            entries = tasks.get(task_id)
            if entries is not None and entries.ended is not None and entries.ended.at == at:
                del tasks[task_id]

    def _apply(self, record: Delivery) -> None:
        """Fold one journal record into memory (records of one task arrive in order)."""
        if record.key is None or record.value is None:
            return  # a tombstone: compaction will drop the key
        try:
            value = orjson.loads(record.value)
            task_id = record.key.decode().split("/", 1)[0]
            kind = value["kind"]
            if kind == "ended":
                status = TaskStatus(value["status"])
                ended = Ended(value["attempt"], value["replay"], status, record.timestamp)
                self._note_ended(record.partition, task_id, ended)
            elif kind == "step":
                self._task(record.partition, task_id).steps[value["name"]] = value["value"]
            elif kind == "child":
                outcome = value.get("outcome")
                entry = ChildEntry(
                    value["agent"], TaskOutcome.model_validate(outcome) if outcome else None
                )
                self._task(record.partition, task_id).children[value["child"]] = entry
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            log.warning("skipping unreadable journal record %s: %s", record.where(), exc)


async def _nothing() -> None:
    return None


def _adoption_key(request: Envelope) -> str:
    return f"adopted:{request.task_id}"  # task ids are hex: no clash with a task's keys
