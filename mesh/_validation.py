"""Inputs checked against their contracts before anything is produced.

A task input is checked against its agent's registered model when this process ships
it, else against the JSON Schema on the agent's card (`AgentCard.input_schema`, the
model's `model_json_schema()`), so an agent type whose model lives only in its
workers' processes is checked too: bad input is refused at the door, never
dead-lettered later. A domain event is checked against its registered model, and
what goes on is that model's dump: fields the model does not know never travel.

Both raise `InvalidInput` whose `errors` name each field that does not fit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from mesh.errors import FieldError, InvalidInput
from schemas import REGISTRY
from schemas.registry import SchemaError
from schemas.tasks import AgentCard

if TYPE_CHECKING:  # jsonschema is imported on first use: most processes never need it
    from jsonschema import Draft202012Validator
    from jsonschema import ValidationError as SchemaViolation

log = logging.getLogger(__name__)

# Enough to fix a bad input; a huge array of bad items does not make a huge answer.
MAX_FIELD_ERRORS = 50
_MAX_REASON = 200  # characters: a reason never echoes a large value back


def validated_input(card: AgentCard, input: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """The task input for `card`'s agent as it goes on the wire.

    Raises:
        InvalidInput: it does not fit the agent's model or input schema.
    """
    raw = contract_json(input) if isinstance(input, BaseModel) else input
    assert card.task_type is not None, "only agents that take tasks have an input"
    if REGISTRY.is_known(card.task_type):
        try:
            model = REGISTRY.parse(card.task_type, card.task_version or 1, raw)
        except ValidationError as exc:
            raise _invalid(f"input for agent {card.name!r}", pydantic_errors(exc)) from None
        except SchemaError as exc:
            raise InvalidInput(f"input for agent {card.name!r} is invalid: {exc}") from None
        return contract_json(model)
    if card.input_schema is not None:
        errors = schema_errors(card.name, card.input_schema, raw)
        if errors:
            raise _invalid(f"input for agent {card.name!r}", errors)
    return raw


def validated_event(type_: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The domain event's payload as its `(type_, version)` model dumps it.

    Raises:
        UnknownMessageType, UnsupportedVersion: no such contract (the caller tells).
        InvalidInput: the payload does not fit it.
    """
    model = REGISTRY.model_for(type_, version)
    try:
        event = model.model_validate(payload)
        if version < REGISTRY.latest_version(type_):
            REGISTRY.parse(type_, version, payload)  # consumers can upcast it
    except ValidationError as exc:
        raise _invalid(f"{type_!r} v{version}", pydantic_errors(exc)) from None
    return contract_json(event)


def contract_json(model: BaseModel) -> dict[str, Any]:
    # By alias: what the model validates again on the other side.
    return model.model_dump(mode="json", by_alias=True)


def pydantic_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(tuple(error["loc"]), error["msg"])
        for error in exc.errors(include_url=False)[:MAX_FIELD_ERRORS]
    ]


def schema_errors(agent: str, schema: dict[str, Any], instance: Any) -> list[FieldError]:
    """What in `instance` breaks the JSON Schema `schema` (empty: it fits).

    A schema that cannot be used (malformed, or with a `$ref` outside itself) checks
    nothing here: it is logged, and the agent's workers still validate.
    """
    from referencing.exceptions import Unresolvable

    validator = _validator(agent, schema)
    if validator is None:
        return []
    try:
        found = sorted(validator.iter_errors(instance), key=lambda e: e.json_path)
    except Unresolvable as exc:
        log.warning("the input schema of agent %r has a $ref it cannot resolve: %s", agent, exc)
        return []
    return [field for error in found for field in _field_errors(error)][:MAX_FIELD_ERRORS]


_validators: dict[str, tuple[dict[str, Any], Draft202012Validator | None]] = {}


def _validator(agent: str, schema: dict[str, Any]) -> Draft202012Validator | None:
    """One per agent type, made again when its card brings a new schema (a new dict)."""
    from jsonschema import Draft202012Validator
    from jsonschema import SchemaError as BadSchema

    cached = _validators.get(agent)
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator: Draft202012Validator | None
    try:
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    except BadSchema as exc:
        log.warning("the input schema of agent %r is not a JSON Schema: %s", agent, exc.message)
        validator = None
    _validators[agent] = (schema, validator)
    return validator


def _field_errors(error: SchemaViolation) -> list[FieldError]:
    """The fields `error` is about: a missing or unexpected property is named itself,
    not its object, as pydantic names it."""
    path = tuple(error.absolute_path)
    if error.validator == "required" and isinstance(error.validator_value, list):
        # One error per missing property; its message is "'<name>' is a required property".
        missing = [p for p in error.validator_value if error.message.startswith(repr(p))]
        return [FieldError((*path, *missing[:1]), "Field required")]
    if (
        error.validator == "additionalProperties"
        and isinstance(error.instance, dict)
        and isinstance(error.schema, dict)
    ):
        known = error.schema.get("properties", {})
        extra = [key for key in error.instance if key not in known]
        return [FieldError((*path, key), "Extra inputs are not permitted") for key in extra]
    if error.validator == "type":
        return [FieldError(path, f"Input should be of JSON type {error.validator_value!r}")]
    reason = error.message
    if len(reason) > _MAX_REASON:
        reason = f"does not satisfy {error.validator!r}: {error.validator_value!r}"
    return [FieldError(path, reason[:_MAX_REASON])]


def _invalid(what: str, errors: list[FieldError]) -> InvalidInput:
    """The message names every field, on one line (the CLI prints the first line)."""
    listed = "; ".join(f"{error.field}: {error.reason}" for error in errors)
    return InvalidInput(f"{what} is invalid: {listed}", errors=errors)
