"""Operating the dead-letter queue: list, show, replay and purge an agent's dead letters.

`mesh.dlq.write` writes them: the original record plus provenance headers. Here
they are read back as `DeadLetter`s, each named by its place in the dead-letter
topic (`<partition>:<offset>`), chosen by filters or ids, replayed as new runs of
their tasks, or purged. Kafka cannot delete single records, so a purge writes a mark
per dead-letter partition to a compacted topic; records below the mark are hidden
from listing and replay (ADR 008). Replay and purge stay separate steps: replaying
hides nothing, so an operator can check the outcome before purging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from pydantic import ValidationError

from mesh.errors import DeadLetterError, first_line
from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import Topics, dead_letter_topics
from mesh.transport.base import Delivery, Transport
from schemas import Envelope, decode_envelope, header_names
from schemas.envelope import new_id, utc_now
from schemas.tasks import DLQ_PURGE_MARK, AgentCard, EventKind, PurgeMark, TaskState, TaskStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    """One record of an agent's dead-letter topic, its provenance parsed from the headers.

    Header values a producer got wrong read as None rather than failing the listing:
    the queue exists to hold records that went wrong.
    """

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes]
    envelope: Envelope | None  # None: the value is not an envelope (poison input)
    undecodable: str | None  # why the value is not an envelope
    task_id: str | None
    type: str | None
    reason: str
    error_type: str | None
    error_message: str | None
    traceback_digest: str | None
    attempts: int | None
    first_failure: datetime | None
    last_failure: datetime | None
    original_topic: str | None
    original_partition: int | None
    original_offset: int | None
    instance: str | None

    @property
    def id(self) -> str:
        """`<partition>:<offset>` in the dead-letter topic: unique, stable, short."""
        return f"{self.partition}:{self.offset}"

    @classmethod
    def from_delivery(cls, record: Delivery) -> DeadLetter:
        value = record.value or b""
        envelope, undecodable = _decode(value)
        h = record.headers
        return cls(
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=value,
            headers=h,
            envelope=envelope,
            undecodable=undecodable,
            task_id=_text(h, header_names.TASK_ID) or (envelope.task_id if envelope else None),
            type=_text(h, header_names.TYPE) or (envelope.type if envelope else None),
            reason=_text(h, header_names.DLQ_REASON) or "(no reason recorded)",
            error_type=_text(h, header_names.DLQ_ERROR_TYPE),
            error_message=_text(h, header_names.DLQ_ERROR_MESSAGE),
            traceback_digest=_text(h, header_names.DLQ_TRACEBACK_DIGEST),
            attempts=_int(h, header_names.DLQ_ATTEMPTS),
            first_failure=_time(h, header_names.DLQ_FIRST_FAILURE),
            last_failure=_time(h, header_names.DLQ_LAST_FAILURE),
            original_topic=_text(h, header_names.DLQ_ORIGINAL_TOPIC),
            original_partition=_int(h, header_names.DLQ_ORIGINAL_PARTITION),
            original_offset=_int(h, header_names.DLQ_ORIGINAL_OFFSET),
            instance=_text(h, header_names.DLQ_INSTANCE),
        )

    def summary(self) -> dict[str, object]:
        """The id and provenance, JSON-ready with orjson (for `mesh dlq list --json`)."""
        return {"id": self.id, **{name: getattr(self, name) for name in _SUMMARY_FIELDS}}


_SUMMARY_FIELDS = (
    "task_id",
    "type",
    "reason",
    "error_type",
    "error_message",
    "traceback_digest",
    "attempts",
    "first_failure",
    "last_failure",
    "original_topic",
    "original_partition",
    "original_offset",
    "instance",
)


def _decode(value: bytes) -> tuple[Envelope | None, str | None]:
    try:
        return decode_envelope(value), None
    except (orjson.JSONDecodeError, ValidationError) as exc:
        return None, first_line(exc)


def _text(headers: Mapping[str, bytes], name: str) -> str | None:
    raw = headers.get(name)
    return raw.decode(errors="replace") if raw is not None else None


def _int(headers: Mapping[str, bytes], name: str) -> int | None:
    text = _text(headers, name)
    return int(text) if text is not None and text.isdigit() else None


def _time(headers: Mapping[str, bytes], name: str) -> datetime | None:
    text = _text(headers, name)
    try:
        return datetime.fromisoformat(text) if text is not None else None
    except ValueError:
        return None


# -- reading -------------------------------------------------------------------------


async def read_dead_letters(
    transport: Transport, settings: Settings, agent: str
) -> list[DeadLetter]:
    """Every dead letter of `agent` that is not purged, in (partition, offset) order."""
    topics = Topics(settings.namespace)
    await transport.ensure_topics(dead_letter_topics(settings, agent))  # read before any exist
    marks = await purge_marks(transport, topics, agent)
    records = await transport.read_topics([topics.dead_letters(agent)])
    letters = [
        DeadLetter.from_delivery(r) for r in records if r.offset >= marks.get(r.partition, 0)
    ]
    return sorted(letters, key=lambda letter: (letter.partition, letter.offset))


async def purge_marks(transport: Transport, topics: Topics, agent: str) -> dict[int, int]:
    """Per dead-letter partition of `agent`, the offset below which letters are purged."""
    return _purge_marks(await transport.read_topics([topics.dead_letter_purges(agent)]))


def _purge_marks(records: Iterable[Delivery]) -> dict[int, int]:
    """Per dead-letter partition, the offset below which records are purged.

    The highest mark wins, not the latest: two operators purging at once can only
    hide more, never bring purged records back.
    """
    marks: dict[int, int] = {}
    for record in records:
        try:
            mark = PurgeMark.model_validate(decode_envelope(record.value or b"").payload)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            log.warning("skipping an unreadable purge mark at %s: %s", record.where(), exc)
            continue
        marks[mark.partition] = max(marks.get(mark.partition, 0), mark.before)
    return marks


# -- choosing ------------------------------------------------------------------------


def matching(
    letters: Iterable[DeadLetter],
    *,
    task_id: str | None = None,
    reason: str | None = None,
    error_type: str | None = None,
) -> list[DeadLetter]:
    """The letters that pass every filter given; `reason` is a case-insensitive substring."""
    needle = reason.casefold() if reason is not None else None
    return [
        letter
        for letter in letters
        if (task_id is None or letter.task_id == task_id)
        and (needle is None or needle in letter.reason.casefold())
        and (error_type is None or letter.error_type == error_type)
    ]


def parse_id(text: str) -> tuple[int, int]:
    """`<partition>:<offset>` -> (partition, offset).

    Raises:
        DeadLetterError: `text` does not look like an id.
    """
    partition, colon, offset = text.partition(":")
    if not (colon and partition.isdigit() and offset.isdigit()):
        raise DeadLetterError(f"dead-letter id {text!r} must look like '<partition>:<offset>'")
    return int(partition), int(offset)


def by_ids(letters: Iterable[DeadLetter], ids: Sequence[str]) -> list[DeadLetter]:
    """The letters named by `ids`, in the order given.

    Raises:
        DeadLetterError: an id is malformed, or names no listed letter (wrong, or purged).
    """
    listed = {(letter.partition, letter.offset): letter for letter in letters}
    wanted = [parse_id(text) for text in ids]
    missing = [f"{p}:{o}" for p, o in wanted if (p, o) not in listed]
    if missing:
        raise DeadLetterError(
            f"no dead letter {', '.join(missing)} (never there, or purged); "
            "`mesh dlq list` shows the ids"
        )
    return [listed[place] for place in dict.fromkeys(wanted)]


# -- replay --------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """What replaying one dead letter did: the request sent, or why it was skipped."""

    letter: DeadLetter
    request: Envelope | None = None
    skipped: str | None = None


async def replay(
    publisher: Publisher,
    card: AgentCard,
    chosen: Sequence[DeadLetter],
    *,
    listed: Sequence[DeadLetter],
    task_states: Mapping[str, TaskState],
    dry_run: bool = False,
) -> list[Replay]:
    """Send the task of each replayable letter in `chosen` back to `card`'s agent as a
    new run; `listed` (every letter not purged) tells how often each was replayed.

    A task is replayed once per call even when it was dead-lettered several times
    (newest letter first: the latest failure), and not at all when its state says it
    is no longer dead-lettered (say, replayed before): one run per operator decision.
    Outcomes come back in id order.
    """
    outcomes: list[Replay] = []
    replayed: set[str] = set()
    replays_so_far = _replays_so_far(listed)
    for letter in sorted(chosen, key=lambda item: (item.partition, item.offset), reverse=True):
        why_not = why_not_replayable(letter, card, task_states) or _already(letter, replayed)
        if why_not is not None:
            outcomes.append(Replay(letter, skipped=why_not))
            continue
        assert letter.envelope is not None  # why_not_replayable checked it
        task_id = letter.envelope.task_id or ""
        request = replay_request(letter.envelope, replays_so_far=replays_so_far.get(task_id, 0))
        replayed.add(task_id)
        if not dry_run:
            await _send(publisher, card.name, request)
        outcomes.append(Replay(letter, request=request))
    return sorted(outcomes, key=lambda item: (item.letter.partition, item.letter.offset))


def why_not_replayable(
    letter: DeadLetter, card: AgentCard, task_states: Mapping[str, TaskState]
) -> str | None:
    """Why `letter` cannot go back to the agent as a task request; None when it can."""
    envelope = letter.envelope
    if envelope is None:
        return f"not an envelope ({letter.undecodable}); only task requests can be replayed"
    if envelope.task_id is None:
        return f"{envelope.type!r} has no task id; only task requests can be replayed"
    if envelope.type != card.task_type:
        takes = repr(card.task_type) if card.task_type else "no tasks"
        return f"agent {card.name!r} takes {takes}, not {envelope.type!r}"
    state = task_states.get(envelope.task_id)
    if state is not None and state.status is not TaskStatus.DEAD_LETTERED:
        return f"task is {state.status} now, not dead_lettered (replayed already?)"
    return None


def _already(letter: DeadLetter, replayed: set[str]) -> str | None:
    if letter.envelope is not None and letter.envelope.task_id in replayed:
        return "a newer dead letter of the same task is replayed instead"
    return None


def _replays_so_far(listed: Iterable[DeadLetter]) -> dict[str, int]:
    """Per task, the highest replay count among its dead letters.

    Replaying an older letter of a task that failed again after a replay must still
    count past the last replay: the worker takes a request whose replay count is not
    above the last ended run's for a duplicate. Newer letters of a task sit later in
    the same partition, so a purge never hides them while an older one is listed.
    """
    highest: dict[str, int] = {}
    for letter in listed:
        if letter.envelope is not None and letter.envelope.task_id is not None:
            task_id = letter.envelope.task_id
            highest[task_id] = max(highest.get(task_id, 0), letter.envelope.replay)
    return highest


def replay_request(envelope: Envelope, *, replays_so_far: int = 0) -> Envelope:
    """A new run of a dead-lettered request: a fresh message id, the first attempt
    again, and a replay count past every earlier run's, so the worker's
    deduplication does not absorb it."""
    return envelope.model_copy(
        update={
            "id": new_id(),
            "attempt": 1,
            "replay": max(envelope.replay, replays_so_far) + 1,
            "created_at": utc_now(),
        }
    )


async def _send(publisher: Publisher, agent: str, request: Envelope) -> None:
    """Record `replayed` (the task shows `submitted` again), then publish the request,
    in that order like `submit_task`: the task's records stay in causal order."""
    recorder = TaskRecorder(publisher, submitted_state(request, agent), max_progress=0)
    await recorder.record(EventKind.REPLAYED)
    await publisher.send(publisher.topics.inbox(agent), request, key=request.task_id)


# -- purge ---------------------------------------------------------------------------


async def purge(
    publisher: Publisher,
    agent: str,
    chosen: Sequence[DeadLetter],
    *,
    listed: Sequence[DeadLetter],
) -> dict[int, int]:
    """Hide `chosen` from listing and replay; returns the new mark per partition.

    A mark hides everything below it in its partition, so it is refused when it
    would also hide a letter of `listed` (what the operator saw) that is not chosen.

    Raises:
        DeadLetterError: the purge would hide letters that were not chosen.
    """
    marks = {letter.partition: 0 for letter in chosen}
    for letter in chosen:
        marks[letter.partition] = max(marks[letter.partition], letter.offset + 1)
    _refuse_hiding_others(marks, chosen, listed)
    await publisher.transport.ensure_topics(dead_letter_topics(publisher.settings, agent))
    for partition, before in sorted(marks.items()):
        mark = PurgeMark(agent=agent, partition=partition, before=before, purged_at=utc_now())
        envelope = Envelope(
            type=DLQ_PURGE_MARK, source=publisher.source, payload=mark.model_dump(mode="json")
        )
        await publisher.send(
            publisher.topics.dead_letter_purges(agent), envelope, key=str(partition)
        )
    return marks


def _refuse_hiding_others(
    marks: Mapping[int, int], chosen: Sequence[DeadLetter], listed: Sequence[DeadLetter]
) -> None:
    chosen_ids = {letter.id for letter in chosen}
    others = [
        letter.id
        for letter in listed
        if letter.offset < marks.get(letter.partition, 0) and letter.id not in chosen_ids
    ]
    if others:
        raise DeadLetterError(
            f"purging would also hide {', '.join(others)}: a purge hides everything before "
            "a record in its partition; name those too, or use --all"
        )
