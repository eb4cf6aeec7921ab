"""Encoding one task's lifecycle records (its events and states) without a model per record.

Every transition of every task writes an event and a state record (ADR 034 measured
them as the largest part of a hop's CPU). Their envelope fields are the task's own,
known and valid when its recorder is made, so they are laid out once per task as
JSON-ready values; each record then adds its id, type, time and payload, and orjson
writes the bytes. The payload model is serialized by pydantic-core straight to JSON
and spliced in as an `orjson.Fragment`: no `model_dump` dict, no `Envelope` copy, no
second validation. The bytes decode to the same `Envelope` as before: fields at
their defaults (`version`, `priority`, `attempt`, `replay`) are left out, as `None`
fields already were.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import pydantic_core
from pydantic import BaseModel

from mesh.runtime.publisher import Publisher
from mesh.transport.base import Outgoing
from schemas import header_names
from schemas.envelope import new_id, utc_now
from schemas.redaction import redacted_by_schema
from schemas.tasks import TaskState

_VERSION_1 = b"1"
_TERMINAL_EVENTS = uuid.UUID("0b6a4a52-3d0e-4a8e-9a57-4f1c2f1e7d21")
_NAMESPACE = _TERMINAL_EVENTS.bytes


def terminal_event_id(run_id: str, kind: str) -> str:
    """The id of run `run_id`'s terminal `kind` event: the same for every re-run of the
    run (ADR 009). It is `uuid5(_TERMINAL_EVENTS, "<run>:<kind>").hex`, computed without
    the `UUID` objects (a hash and two bit fixes)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE + f"{run_id}:{kind}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest.hex()


class TaskRecords:
    """Encodes the records of one task: `state`'s ids, written by `publisher`."""

    # Only the task's ids, which its state already holds: the envelope fields and
    # headers are laid out per record, not kept per task (a waiting task held ~560 B
    # of dicts and bytes here; ADR 037).
    __slots__ = ("_input_schema", "_parent_task_id", "_publisher", "_root_task_id", "_task_id")

    def __init__(
        self,
        publisher: Publisher,
        state: TaskState,
        input_schema: Mapping[str, Any] | None,
    ) -> None:
        self._publisher = publisher
        self._input_schema = input_schema  # masks the state's input (None: nothing to mask)
        self._task_id = state.task_id
        self._parent_task_id = state.parent_task_id
        self._root_task_id = state.root_task_id

    def encode(self, topic: str, type_: str, payload: BaseModel, id: str | None = None) -> Outgoing:
        """The record of `payload` (a `TaskEvent` or `TaskState`) as a `type_` envelope."""
        id = id or new_id()
        body: Any
        if self._input_schema is not None and isinstance(payload, TaskState) and payload.input:
            shown = payload.model_dump(mode="json", exclude_none=True)
            shown["input"] = redacted_by_schema(self._input_schema, shown["input"])
            body = orjson.Fragment(pydantic_core.to_json(shown))  # any int, as pydantic writes
        else:
            serializer = payload.__pydantic_serializer__
            body = orjson.Fragment(serializer.to_json(payload, exclude_none=True))
        task_id, root_task_id = self._task_id, self._root_task_id
        key = task_id.encode()
        envelope: dict[str, Any] = {"id": id, "type": type_, "task_id": task_id}
        headers = {
            header_names.ID: id.encode(),
            header_names.TYPE: type_.encode(),
            header_names.VERSION: _VERSION_1,
            header_names.TASK_ID: key,
        }
        if self._parent_task_id:
            envelope["parent_task_id"] = self._parent_task_id
        if root_task_id:
            envelope["root_task_id"] = root_task_id
            headers[header_names.ROOT_TASK_ID] = root_task_id.encode()
        envelope["source"] = self._publisher.source_fields
        envelope["created_at"] = utc_now()
        envelope["payload"] = body
        value = orjson.dumps(envelope, option=orjson.OPT_UTC_Z)
        self._publisher.check_size(type_, value)
        return Outgoing(topic, value, key, headers)
