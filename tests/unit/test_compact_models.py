"""What a waiting task holds, laid out small (ADR 037): the same values, shared parts."""

from __future__ import annotations

import sys

from mesh.runtime._compact_models import compact
from mesh.runtime._heap import free_heap_bytes, release_free_heap
from mesh.runtime._transitions import submitted_state
from mesh.runtime._transitions import updated as _updated
from schemas.envelope import Envelope, Source, decode_envelope, encode_envelope, new_id
from schemas.tasks import TaskStatus


def _request() -> Envelope:
    task_id = new_id()
    sent = Envelope(
        type="bench.wait",
        task_id=task_id,
        root_task_id=task_id,
        source=Source(agent="a", instance="i"),
        payload={"seconds": 1.5},
    )
    return decode_envelope(encode_envelope(sent))


def test_a_compact_envelope_is_the_same_envelope_with_a_shared_fields_set() -> None:
    first, second = _request(), _request()
    small = compact(first)
    assert small == first
    assert encode_envelope(small) == encode_envelope(first)
    assert small.model_fields_set == first.model_fields_set
    assert compact(second).__pydantic_fields_set__ is small.__pydantic_fields_set__
    # Key-sharing when the class's key table allows it, never larger than validation's.
    assert sys.getsizeof(small.__dict__) <= sys.getsizeof(first.__dict__)


def test_copying_a_compact_envelope_leaves_the_shared_fields_set_alone() -> None:
    small = compact(_request())
    shared = set(small.__pydantic_fields_set__)
    copied = small.model_copy(update={"attempt": 2, "tenant": "t"})
    assert (copied.attempt, copied.tenant, small.attempt, small.tenant) == (2, "t", 1, None)
    assert small.__pydantic_fields_set__ == shared
    assert compact(_request()).__pydantic_fields_set__ == shared


def test_a_state_transition_is_model_copy_laid_out_small() -> None:
    state = submitted_state(_request(), "waiter")
    changes = {"status": TaskStatus.RUNNING, "instance": "w-1"}
    moved = _updated(state, changes)
    assert moved == state.model_copy(update=changes)
    assert moved.model_dump_json(exclude_none=True) == state.model_copy(
        update=changes
    ).model_dump_json(exclude_none=True)
    assert _updated(moved, {}).__pydantic_fields_set__ is moved.__pydantic_fields_set__
    assert sys.getsizeof(moved.__dict__) < sys.getsizeof(state.__dict__)


def test_the_heap_is_trimmed_only_above_the_threshold() -> None:
    assert release_free_heap(above=2**62) == 0  # never that much free
    assert release_free_heap(above=-1) >= 0  # trims whatever is free (0 off glibc)
    assert free_heap_bytes() >= 0
