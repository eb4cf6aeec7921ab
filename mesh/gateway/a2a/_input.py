"""An A2A message -> the input of a mesh task (ADR 041).

A data part holding an object is the input as it is. Without one, the text parts
(joined) are the input: a JSON object when the text is one, else the value of the
agent's text field (its input schema's `text`, or its only required string field).
What cannot become an input is an InvalidParams error naming the field to fix.
"""

from __future__ import annotations

from typing import Any

import orjson
from a2a.types.a2a_pb2 import Message
from a2a.utils.errors import InvalidParamsError
from google.protobuf.json_format import MessageToDict

from schemas.tasks import AgentCard

JsonObject = dict[str, Any]


def invalid(field: str, reason: str) -> InvalidParamsError:
    """An InvalidParams error naming `field` (also as a BadRequest field violation)."""
    errors = [{"field": field, "message": reason}]
    return InvalidParamsError(f"{field}: {reason}", data={"errors": errors})


def message_input(card: AgentCard, message: Message) -> JsonObject:
    for part in message.parts:
        if part.WhichOneof("content") == "data":
            data = _integral(MessageToDict(part.data))
            if not isinstance(data, dict):
                raise invalid("message.parts.data", "must be a JSON object (the agent's input)")
            return data
    texts = [part.text for part in message.parts if part.WhichOneof("content") == "text"]
    if not texts:
        raise invalid("message.parts", "send a data part (the input) or a text part")
    text = "\n".join(texts)
    if text.lstrip().startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    field = text_field(card)
    if field is None:
        reason = f"agent {card.name!r} takes a JSON object: send it as a data part"
        raise invalid("message.parts", reason)
    return {field: text}


def text_field(card: AgentCard) -> str | None:
    """The input field a plain text goes into, when the agent has one."""
    schema = card.input_schema or {}
    properties: dict[str, Any] = schema.get("properties", {})
    if properties.get("text", {}).get("type") == "string":
        return "text"
    required = [
        name
        for name in schema.get("required", [])
        if properties.get(name, {}).get("type") == "string"
    ]
    return required[0] if len(required) == 1 else None


def _integral(value: Any) -> Any:
    """Protobuf's JSON numbers are doubles: 2 arrives as 2.0. Integral ones are made
    ints again, which an int field needs and a float field takes."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value
