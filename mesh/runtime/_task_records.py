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

    __slots__ = ("_fields", "_headers", "_input_schema", "_key", "_publisher")

    def __init__(
        self,
        publisher: Publisher,
        state: TaskState,
        input_schema: Mapping[str, Any] | None,
    ) -> None:
        self._publisher = publisher
        self._input_schema = input_schema  # masks the state's input (None: nothing to mask)
        fields: dict[str, Any] = {"task_id": state.task_id}
        headers = {header_names.VERSION: _VERSION_1, header_names.TASK_ID: state.task_id.encode()}
        if state.parent_task_id:
            fields["parent_task_id"] = state.parent_task_id
        if state.root_task_id:
            fields["root_task_id"] = state.root_task_id
            headers[header_names.ROOT_TASK_ID] = state.root_task_id.encode()
        fields["source"] = publisher.source_fields
        self._fields = fields
        self._headers = headers
        self._key = state.task_id.encode()

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
        now = utc_now()
        envelope = {"id": id, "type": type_, **self._fields, "created_at": now, "payload": body}
        value = orjson.dumps(envelope, option=orjson.OPT_UTC_Z)
        self._publisher.check_size(type_, value)
        headers = {header_names.ID: id.encode(), header_names.TYPE: type_.encode(), **self._headers}
        return Outgoing(topic, value, self._key, headers)
