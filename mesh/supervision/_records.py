"""The supervisor's tables hold bytes: reading the records in them and on its topics.

Keys and values are the bytes faust hands over (task or instance id, JSON), so the
supervisor decodes them itself: `decode` for an envelope and its payload, `outcome_of`
and `agent_of` to regroup task outcomes by agent type, and `LeaseCache` to keep the
leases parsed between checks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from mesh.errors import first_line
from mesh.supervision._tracking import TaskLease, WorkerSeen
from schemas import Envelope, decode_envelope
from schemas.tasks import INVALID_INPUT

log = logging.getLogger(__name__)

_SUCCESS = frozenset({"succeeded"})
_FAILURE = frozenset({"failed", "dead_lettered", "retry_scheduled"})


def outcome_of(value: bytes | None) -> bytes | None:
    """b"ok" or b"failed" for an event that ends an attempt; None for the rest.

    Cancellations and invalid input count neither way: they are not the agent's doing
    (a burst of bad tasks from one sender must not open the agent type's circuit).
    """
    try:
        event = orjson.loads(value or b"{}").get("payload", {})
    except orjson.JSONDecodeError:
        return None
    kind = event.get("kind")
    if kind in _SUCCESS:
        return b"ok"
    if (event.get("error") or {}).get("type") == INVALID_INPUT:
        return None
    return b"failed" if kind in _FAILURE else None


def agent_of(value: bytes | None) -> bytes:
    """The agent type of a task event, the key its outcome is regrouped by."""
    agent = orjson.loads(value or b"{}").get("payload", {}).get("agent", "")
    return str(agent).encode()


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


def workers_in(table: Mapping[bytes, bytes]) -> dict[str, WorkerSeen]:
    """The workers table, parsed: instance id -> its latest heartbeat."""
    return {k.decode(): WorkerSeen.model_validate_json(v) for k, v in list(table.items())}


class LeaseCache:
    """Parsed leases by key, next to the table's bytes: a check reads every lease each
    second, and parsing only those that changed keeps that cheap with many tasks."""

    def __init__(self) -> None:
        self._parsed: dict[bytes, tuple[bytes, TaskLease]] = {}

    def put(self, key: bytes, value: bytes, lease: TaskLease) -> None:
        self._parsed[key] = (value, lease)

    def get(self, key: bytes, value: bytes | None) -> TaskLease | None:
        """The lease whose table bytes are `value` (None: no lease)."""
        if value is None:
            return None
        hit = self._parsed.get(key)
        if hit is not None and hit[0] is value:
            return hit[1]
        lease = TaskLease.model_validate_json(value)
        self._parsed[key] = (value, lease)
        return lease

    def all(self, table: Mapping[bytes, bytes]) -> list[tuple[str, TaskLease]]:
        """Every lease in `table` (forgetting those the table no longer holds)."""
        # A faust table's `items()` is its store's, as a dict's: no per-key callbacks.
        current = list(table.items())
        if len(self._parsed) > len(current):
            keys = {k for k, _ in current}
            self._parsed = {k: v for k, v in self._parsed.items() if k in keys}
        return list(self._parsed_leases(current))

    def _parsed_leases(
        self, current: Iterable[tuple[bytes, bytes]]
    ) -> Iterable[tuple[str, TaskLease]]:
        for key, value in current:
            lease = self.get(key, value)
            if lease is not None:
                yield key.decode(), lease
