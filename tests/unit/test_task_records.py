"""Lifecycle records laid out by `TaskRecords` (ADR 034) read back as the envelopes the
pydantic encoder wrote: same fields, same payload, same routing headers."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from mesh.runtime._task_records import _TERMINAL_EVENTS, TaskRecords, terminal_event_id
from mesh.runtime.lifecycle import submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source, decode_envelope
from schemas.envelope import utc_now
from schemas.redaction import sensitive
from schemas.tasks import TASK_EVENT, TASK_STATE, EventKind, TaskEvent, TaskState, TaskStatus


def _records(parent: str | None = "p" * 32) -> tuple[TaskRecords, TaskState]:
    publisher = Publisher(MemoryTransport(), Settings(), Source(agent="noop", instance="w1"))
    request = Envelope(
        type="bench.noop",
        task_id="t" * 32,
        parent_task_id=parent,
        root_task_id="r" * 32,
        payload={"n": 1, "text": "x"},
    )
    state = submitted_state(request, "noop")
    return TaskRecords(publisher, state, None), state


def test_a_state_record_reads_back_as_the_envelope_the_model_encoder_wrote() -> None:
    records, state = _records()
    record = records.encode("events", TASK_STATE, state)
    envelope = decode_envelope(record.value)
    assert (envelope.type, envelope.task_id) == (TASK_STATE, state.task_id)
    assert (envelope.parent_task_id, envelope.root_task_id) == ("p" * 32, "r" * 32)
    assert envelope.source == Source(agent="noop", instance="w1")
    assert (envelope.version, envelope.attempt, envelope.priority, envelope.replay) == (1, 1, 0, 0)
    assert envelope.payload == state.model_dump(mode="json", exclude_none=True)
    assert TaskState.model_validate(envelope.payload) == state
    assert record.key == state.task_id.encode()
    assert dict(record.headers) == envelope.routing_headers()


def test_an_event_record_keeps_its_id_and_time_and_leaves_out_absent_fields() -> None:
    records, _ = _records(parent=None)
    event = TaskEvent(
        kind=EventKind.SUCCEEDED,
        agent="noop",
        status=TaskStatus.SUCCEEDED,
        at=utc_now(),
        instance="w1",
        attempt=1,
    )
    record = records.encode("events", TASK_EVENT, event, "e" * 32)
    envelope = decode_envelope(record.value)
    assert envelope.id == "e" * 32 and envelope.parent_task_id is None
    assert TaskEvent.model_validate(envelope.payload) == event
    assert b"null" not in record.value and b'"replay"' not in record.value
    assert dict(record.headers) == envelope.routing_headers()


def test_the_terminal_event_id_is_the_uuid5_that_earlier_versions_wrote() -> None:
    # A re-run after a crash, by a newer worker, must write the same id (ADR 009).
    for run in ("a" * 32, "0123456789abcdef" * 2):
        for kind in EventKind:
            expected = uuid.uuid5(_TERMINAL_EVENTS, f"{run}:{kind}").hex
            assert terminal_event_id(run, kind) == expected


class _Card(BaseModel):
    email: str = sensitive()
    count: int = 0


def test_a_masked_input_is_written_masked_and_any_int_survives() -> None:
    publisher = Publisher(MemoryTransport(), Settings(), Source(agent="noop", instance="w1"))
    request = Envelope(
        type="bench.card", task_id="t" * 32, payload={"email": "a@b.c", "count": 2**70}
    )
    state = submitted_state(request, "noop")
    records = TaskRecords(publisher, state, _Card.model_json_schema())
    payload = decode_envelope(records.encode("state", TASK_STATE, state).value).payload
    assert payload["input"]["email"] != "a@b.c" and payload["input"]["count"] == 2**70
