"""Fields a schema marks sensitive, masked wherever a payload is shown: logs at DEBUG,
and the task state and event records (unless MESH_MASK_SENSITIVE=false).

Mark a field with `email: str = sensitive()` (or `sensitive(default=...)`); the mark
is also in the field's JSON Schema (`"sensitive": true`), so other consumers see it
and mask by the schema alone (`redacted_by_schema`: a process without the model, such
as a gateway serving an agent type whose models live only in its workers).
"""

from __future__ import annotations

from collections.abc import Mapping
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


def redacted_by_schema(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` with what its JSON Schema marks `"sensitive": true` masked, at any depth
    (through `$ref`, `properties`, `items` and `anyOf`/`oneOf`/`allOf`)."""
    return _masked(schema, schema.get("$defs", {}), value)


def _masked(node: Mapping[str, Any], defs: Mapping[str, Any], value: Any) -> Any:
    if node.get("sensitive"):
        return MASK
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node = defs.get(ref.removeprefix("#/$defs/"), {})
    properties = node.get("properties")
    if isinstance(value, dict) and isinstance(properties, dict):
        value = {
            key: _masked(properties[key], defs, item) if key in properties else item
            for key, item in value.items()
        }
    items = node.get("items")
    if isinstance(value, list) and isinstance(items, dict):
        value = [_masked(items, defs, item) for item in value]
    for combinator in ("anyOf", "oneOf", "allOf"):
        for option in node.get(combinator, ()):
            value = _masked(option, defs, value)
    return value


def marks_sensitive(schema: Any) -> bool:
    """Whether a JSON Schema marks anything sensitive (else there is nothing to mask)."""
    if isinstance(schema, dict):
        return schema.get("sensitive") is True or any(map(marks_sensitive, schema.values()))
    if isinstance(schema, list):
        return any(map(marks_sensitive, schema))
    return False
