"""How a durable step's result is journaled and given back (`TaskContext.step`).

The journal holds JSON. So that the code after a step sees one value whether the step
ran or was replayed, the JSON is validated into the step function's return annotation
on every run (pydantic's `TypeAdapter`): a model comes back as the model, a tuple as a
tuple, a datetime as a datetime. A function without one (a lambda) gets the JSON.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from pydantic import BaseModel, PydanticSchemaGenerationError, TypeAdapter

from mesh.errors import SetupError, StepTooLarge


def jsonable(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"a step result must be JSON, got {type(value).__name__}")


def journalable(name: str, result: Any, task_id: str, *, typed: bool, limit: int) -> Any:
    """`result` of step `name` as the JSON the journal keeps (and an untyped step returns).

    Raises:
        SetupError: an untyped step returned a model (a replay could only give its JSON).
        StepTooLarge: the JSON is over `limit` bytes (MESH_MAX_STEP_BYTES).
    """
    if not typed and isinstance(result, BaseModel):
        raise SetupError(
            f"step {name!r} returned a {type(result).__name__} from a function with "
            "no return annotation, so a replay could only return its JSON: pass "
            f"a function annotated `-> {type(result).__name__}` (with its "
            "arguments after it), or return JSON"
        )
    raw = orjson.dumps(result, default=jsonable)
    if len(raw) > limit:
        raise StepTooLarge(
            f"step {name!r} of task {task_id} returned {len(raw)} bytes of "
            f"JSON; the journal takes at most MESH_MAX_STEP_BYTES={limit}: return "
            "a reference (a row id, an object key), not the data"
        )
    return orjson.loads(raw)


def return_adapter(fn: Callable[..., Any]) -> TypeAdapter[Any] | None:
    """A validator for `fn`'s declared return type (a coroutine's result for an async
    function); None when it declares none, as a lambda does."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if not isinstance(fn, type) and not inspect.isroutine(fn):  # an object with __call__
        fn = type(fn).__call__
    try:
        # A class called as the step makes an instance of itself.
        annotation = fn if isinstance(fn, type) else typing.get_type_hints(fn).get("return")
    except (NameError, TypeError):  # an unresolvable annotation, or no function at all
        return None
    if typing.get_origin(annotation) in (Awaitable, Coroutine):
        annotation = typing.get_args(annotation)[-1]
    if annotation is None:
        return None
    try:
        return _adapter(annotation)
    except TypeError:  # an unhashable annotation: build it uncached
        return _adapter.__wrapped__(annotation)


@functools.lru_cache(maxsize=512)
def _adapter(annotation: Any) -> TypeAdapter[Any] | None:
    try:
        return TypeAdapter(annotation)
    except PydanticSchemaGenerationError:  # not a type pydantic rebuilds: keep the JSON
        return None
