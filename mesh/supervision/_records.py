"""The supervisor's tables hold bytes: reading the records in them and on its topics.

Keys and values are the bytes faust hands over (task or instance id, JSON), so the
supervisor decodes them itself: `read_task_event` for the task events (every event of
the mesh: one orjson decode, no models), `decode` for an envelope and its typed payload
(heartbeats), `Outcomes` and `read_outcomes` for the outcomes regrouped by agent type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from mesh.errors import first_line
from mesh.supervision._tracking import EventFacts, WorkerSeen
from schemas import Envelope, decode_envelope
from schemas.tasks import INVALID_INPUT, TASK_EVENT, EventKind

log = logging.getLogger(__name__)

_SUCCESS = frozenset({EventKind.SUCCEEDED})
_FAILURE = frozenset({EventKind.FAILED, EventKind.DEAD_LETTERED, EventKind.RETRY_SCHEDULED})


class Outcomes(NamedTuple):
    """Attempt ends of one agent type, for its health: the record the adapter sends to
    the outcomes topic, keyed by agent type (one owner per type decides its circuit)."""

    agent: bytes
    value: bytes  # JSON [[at, succeeded], ...]

    @classmethod
    def of(cls, agent: str, outcomes: list[tuple[float, bool]]) -> Outcomes:
        return cls(agent.encode(), orjson.dumps(outcomes))


def read_outcomes(value: bytes | None) -> list[tuple[float, bool]]:
    """An `Outcomes` record's (at, succeeded) pairs; none for an unreadable record."""
    try:
        return [(float(at), bool(succeeded)) for at, succeeded in orjson.loads(value or b"")]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        log.warning("skipping an unreadable outcomes record: %r", (value or b"")[:80])
        return []


def outcome_of(event: EventFacts, error_type: str | None) -> bool | None:
    """True or False for an event that ends an attempt (succeeded); None for the rest.

    Cancellations and invalid input count neither way: they are not the agent's doing
    (a burst of bad tasks from one sender must not open the agent type's circuit).
    """
    if event.kind in _SUCCESS:
        return True
    if error_type == INVALID_INPUT:
        return None
    return False if event.kind in _FAILURE else None


class TaskEventRecord(NamedTuple):
    """What the supervisor reads of a task-events record, decoded once."""

    event: EventFacts
    parent: str | None  # the envelope's parent task
    submitter: str | None  # the envelope's source agent
    outcome: bool | None  # see `outcome_of`


def read_task_event(value: bytes | None) -> TaskEventRecord | None:
    """The task event in `value`, or None for other types and bad records (the
    supervisor only reads; a bad record is the runtime's to dead-letter).

    One orjson decode and a few fields, not the envelope and payload models: this runs
    for every event of the mesh (the models validate them where they are written).
    """
    try:
        envelope = orjson.loads(value or b"")
        if envelope.get("type") != TASK_EVENT:
            return None
        payload = envelope["payload"]
        event = EventFacts.of_payload(payload)
        source, error = envelope.get("source"), payload.get("error")
        return TaskEventRecord(
            event,
            envelope.get("parent_task_id"),
            source.get("agent") if source else None,
            outcome_of(event, error.get("type") if error else None),
        )
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
        log.warning("skipping an unreadable %s record: %s", TASK_EVENT, first_line(exc))
        return None


def decode(value: bytes | None, type_: str, model: Any) -> tuple[Envelope, Any] | None:
    """The envelope and its typed payload, or None for other types and bad records
    (the supervisor only reads; a bad record is the runtime's to dead-letter)."""
    try:
        envelope = decode_envelope(value or b"")
        if envelope.type != type_:
            return None
        return envelope, model.model_validate(envelope.payload)
    except (orjson.JSONDecodeError, ValidationError) as exc:
        log.warning("skipping an unreadable %s record: %s", type_, first_line(exc))
        return None


# The workers table also holds, per partition of `mesh.heartbeats`, the newest
# watermark read from it (`HeartbeatWatermark`), under a key no instance id has.
_WATERMARK_KEY = b"\x00heartbeat-watermark/"
# A watermark older than this is not trusted to hold judgement back: the supervisors
# stopped writing them (an older version) or one's reading is stuck; the clock rules.
WATERMARK_PATIENCE = 60.0


def watermark_key(partition: int) -> bytes:
    return _WATERMARK_KEY + str(partition).encode()


def fold_watermark(table: Any, partition: int, at: float, interval: float) -> None:
    """Keep the newest watermark of `partition` (the supervisors' clocks may differ)."""
    key = watermark_key(partition)
    held = table.get(key)
    if held is None or orjson.loads(held)["at"] < at:
        table[key] = orjson.dumps({"at": at, "interval": interval})


def workers_in(table: Mapping[bytes, bytes], now: float | None = None) -> dict[str, WorkerSeen]:
    """The workers table, parsed: instance id -> its latest heartbeat, each `behind` by
    as much as the reading of its partition is behind `now` (its watermark, plus the
    interval to the next one: a partition read to its newest mark is read up to now)."""
    read_to: dict[int, float] = {}
    workers: dict[str, WorkerSeen] = {}
    for key, value in list(table.items()):
        if key.startswith(_WATERMARK_KEY):
            mark = orjson.loads(value)
            read_to[int(key[len(_WATERMARK_KEY) :])] = mark["at"] + mark["interval"]
        else:
            workers[key.decode()] = WorkerSeen.model_validate_json(value)
    if now is not None:
        for seen in workers.values():
            if (mark := read_to.get(seen.partition)) is not None:  # type: ignore[arg-type]
                behind = now - mark
                if 0 < behind <= WATERMARK_PATIENCE:
                    seen.behind = behind
    return workers
