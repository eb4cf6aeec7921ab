"""Lifecycle models built without a validation each (ADR 057) are the models validation
builds: equal, and dumped to the same bytes, for every kind of transition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from mesh.runtime.lifecycle import TaskRecorder, submitted_state
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, Source
from schemas.envelope import Budget, utc_now
from schemas.tasks import EventKind, ProgressEntry, Steer, TaskError, TaskState


def _request(**fields: object) -> Envelope:
    return Envelope(type="bench.noop", task_id="t" * 32, payload={"n": 1, "text": "x"}, **fields)


def _same_as_validated(model: BaseModel) -> None:
    validated = type(model).model_validate(model.model_dump())
    assert model == validated
    assert model.model_dump_json(exclude_none=True) == validated.model_dump_json(exclude_none=True)
    assert model.__pydantic_serializer__.to_json(model, exclude_none=True) == (
        validated.__pydantic_serializer__.to_json(validated, exclude_none=True)
    )


@pytest.mark.parametrize(
    "request_fields",
    [
        {},
        {
            "parent_task_id": "p" * 32,
            "root_task_id": "r" * 32,
            "correlation_id": "c",
            "idempotency_key": "k",
            "priority": 3,
            "attempt": 2,
            "tenant": "acme",
            "budget": Budget(usd=0.5),
            "deadline": utc_now() + timedelta(seconds=30),
        },
    ],
)
def test_the_first_state_is_the_validated_state(request_fields: dict[str, object]) -> None:
    request = _request(**request_fields)
    state = submitted_state(request, "noop", trace_id="0" * 32)
    _same_as_validated(state)
    assert state.input == request.payload and state.input is not request.payload
    assert state.root_task_id == (request.root_task_id or request.task_id)


def _recorder() -> TaskRecorder:
    publisher = Publisher(MemoryTransport(), Settings(), Source(agent="noop", instance="w1"))
    request = _request(deadline=utc_now() + timedelta(seconds=30))
    return TaskRecorder(publisher, submitted_state(request, "noop"), max_progress=5)


def test_every_transition_builds_the_validated_event() -> None:
    recorder = _recorder()
    error = TaskError(type="Boom", message="it broke")
    progress = ProgressEntry(at=utc_now(), message="half", data={"done": 1})
    transitions: list[dict[str, object]] = [
        {"kind": EventKind.HELD, "held": "no slot"},
        {"kind": EventKind.STARTED},
        {"kind": EventKind.PROGRESS, "progress": progress},
        {"kind": EventKind.DELEGATED, "child": ("c" * 32, "other")},
        {"kind": EventKind.STEERED, "steer": Steer(text="faster", data={"a": 1})},
        {"kind": EventKind.WAITING, "waiting_for": "approve?"},
        {"kind": EventKind.RESUMED, "steer": Steer(text="yes")},
        {"kind": EventKind.RETRY_SCHEDULED, "error": error, "retry": (2, utc_now())},
        {"kind": EventKind.SUCCEEDED, "result": {"answer": 42, "nested": {"x": [1]}}},
        {"kind": EventKind.FAILED, "error": error},
    ]
    for fields in transitions:
        event = recorder._apply(**fields)  # type: ignore[arg-type]
        _same_as_validated(event)
        _same_as_validated(recorder.state)
        assert (event.kind, event.status) == (fields["kind"], recorder.state.status)
    assert recorder.state.deadline is not None  # carried by the started event above


def test_a_waiting_question_is_still_validated() -> None:
    recorder = _recorder()
    with pytest.raises(ValidationError):
        recorder._apply(EventKind.WAITING, waiting_for=42)  # type: ignore[arg-type]


def test_the_state_model_is_unchanged_by_trusted_building() -> None:
    # A state read back from its record is the state written.
    state = submitted_state(_request(), "noop")
    assert TaskState.model_validate_json(state.model_dump_json()) == state
