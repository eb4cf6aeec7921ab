"""Models a waiting task holds, laid out small: values in a key-sharing dict, the
"fields set" shared (ADR 037).

A pydantic model keeps its values in `__dict__`. Validation and `model_copy` give
each instance its own dict with its own key table (a `TaskState`'s 28 fields: 832 B;
an `Envelope`'s 22: 464 B) and its own set of the fields given (728 B once it holds
more than four names); the sets and a state's dict are over 512 B, so they come from
the C allocator, whose heap the start-up burst of thousands of tasks fragments. Here
the values go in field order into a bare instance's empty dict, so CPython keeps
them the way it keeps a plain object's attributes: one key table per class, shared
by every instance, and a values array of 8 bytes a field (~300 B for a state). A
state made so costs no more CPU than the copy it replaced (5-9 us on this loaded
machine), an envelope ~6 us once per request. The
fields set is shared by every instance given the same fields: nothing mutates it
(the models are frozen; `model_copy` copies the set before it adds to it).

The result is an ordinary instance of the model: it compares, dumps, copies and
serializes as the one it was made from.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from pydantic import BaseModel

Model = TypeVar("Model", bound=BaseModel)

_MAX_SHAPES = 256  # distinct fields sets kept to share (a handful occur)
_shapes: dict[frozenset[str], set[str]] = {}
_setattr = object.__setattr__
_primed: set[type[BaseModel]] = set()


def compact(model: Model, same: dict[str, Any] | None = None) -> Model:
    """A copy of `model` (frozen, no extra or private attributes) that holds its values
    in a key-sharing dict and shares its fields set; `same` replaces values by equal
    ones held elsewhere already."""
    given = shared_fields_set(model.__pydantic_fields_set__)
    values = {**model.__dict__, **same} if same else model.__dict__
    return with_values(type(model), values, given)


def compact_input(message: Model) -> Model:
    """A task's parsed input (a user's model, frozen or not) laid out small where that
    changes nothing its handler can see (ADR 049): its values in a key-sharing dict;
    its fields set shared only when it names every field, so an assignment, the one
    thing that adds to it, adds nothing. With extra or private attributes: as it is."""
    if message.__pydantic_extra__ is not None or message.__pydantic_private__ is not None:
        return message
    cls = type(message)
    given = message.__pydantic_fields_set__
    if len(given) == len(cls.__pydantic_fields__):
        given = shared_fields_set(given)
    return with_values(cls, message.__dict__, given)


def with_values(cls: type[Model], values: dict[str, Any], fields_set: set[str]) -> Model:
    """An instance of `cls` holding `values` (already valid: one for every field) and
    `fields_set` as its fields set (shared: never mutated)."""
    if cls not in _primed:
        _prime(cls)
    new = cls.__new__(cls)
    shared = new.__dict__  # empty, and sharing the class's key table
    # One key first: `update` then inserts the others one by one, in `values`' order
    # (the fields' order, as validation and `model_copy` leave it), which keeps the
    # dict key-sharing; into an empty dict it would copy `values`' own key table.
    first = next(iter(values))
    shared[first] = values[first]
    shared.update(values)
    if sys.getsizeof(shared) >= sys.getsizeof(values):
        # Out of the key table's order, CPython made it an ordinary dict, grown one
        # key at a time: a copy of `values` is smaller.
        _setattr(new, "__dict__", dict(values))
    _setattr(new, "__pydantic_fields_set__", fields_set)
    _setattr(new, "__pydantic_extra__", None)
    _setattr(new, "__pydantic_private__", None)
    return new


def trusted(cls: type[Model], values: dict[str, Any], fields_set: set[str]) -> Model:
    """An instance of `cls` (no extra or private attributes) holding `values` as its
    dict, not validated: for values the runtime built from validated ones. `values`
    has one entry for every field, in the fields' order (pydantic-core serializes a
    model's dict in its own order), so the instance dumps and compares as the
    validated one would; `fields_set` is shared, never mutated."""
    new = cls.__new__(cls)
    _setattr(new, "__dict__", values)
    _setattr(new, "__pydantic_fields_set__", fields_set)
    _setattr(new, "__pydantic_extra__", None)
    _setattr(new, "__pydantic_private__", None)
    return new


def defaults_of(cls: type[BaseModel]) -> dict[str, Any]:
    """Every field of `cls` with its default, in the fields' order: copied and filled
    in by `trusted`'s callers. A required field (or one with a default factory)
    holds no usable value here: its caller must set it."""
    return {name: field.default for name, field in cls.__pydantic_fields__.items()}


def prime(cls: type[BaseModel]) -> None:
    """Fix `cls`'s shared key table now, before any instance of it is validated: a
    validated instance's dict can take a slot of the table first, and a model of ~29
    fields then no longer fits it (CPython shares at most 30 keys)."""
    if cls not in _primed:
        _prime(cls)


def _prime(cls: type[BaseModel]) -> None:
    """Fix the order of `cls`'s shared key table as the fields' order: the first keys
    ever inserted into an instance's dict set it, so an instance made from values in
    another order would make it useless for every later one."""
    bare = cls.__new__(cls)
    for name in cls.__pydantic_fields__:
        bare.__dict__[name] = None
    _primed.add(cls)


def shared_fields_set(given: set[str]) -> set[str]:
    """One set object for every `given` of the same names."""
    shape = frozenset(given)
    shared = _shapes.get(shape)
    if shared is None:
        if len(_shapes) >= _MAX_SHAPES:
            return given
        shared = _shapes[shape] = set(shape)
    return shared


class _NoItems(list[Any]):
    """An empty list that refuses to change, so one can serve as every task state's
    empty list fields (`progress`, `children`, `usage`: 168 B a waiting task): the
    lifecycle never changes a state's list, it makes a new one (ADR 049)."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError("this empty list is shared by many models: make a new list instead")

    append = extend = insert = pop = remove = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse


NO_ITEMS: list[Any] = _NoItems()
"""The shared empty list (see `_NoItems`)."""
