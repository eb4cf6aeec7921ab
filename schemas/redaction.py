"""Fields a schema marks sensitive, masked wherever a payload is shown (logs at DEBUG).

Mark a field with `email: str = sensitive()` (or `sensitive(default=...)`); the mark
is also in the field's JSON Schema (`"sensitive": true`), so other consumers see it.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, Field

MASK = "[redacted]"


def sensitive(**field_options: Any) -> Any:
    """A pydantic `Field` whose value `redacted` masks."""
    return Field(json_schema_extra={"sensitive": True}, **field_options)


def redacted(model: type[BaseModel], payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` (a dump of `model`) with its sensitive fields, at any depth, masked."""
    shown = dict(payload)
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in shown:
            continue
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get("sensitive"):
            shown[key] = MASK
        elif (nested := _model_in(field.annotation)) is not None:
            shown[key] = _redact_value(nested, shown[key])
    return shown


def _redact_value(model: type[BaseModel], value: Any) -> Any:
    if isinstance(value, dict):
        return redacted(model, value)
    if isinstance(value, list):
        return [_redact_value(model, item) for item in value]
    return value


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or in a list/optional/union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None
