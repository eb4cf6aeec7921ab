"""Ingress: a record on a domain topic, from whichever producer wrote it, as an envelope.

Upstream systems publish to a domain topic (`Topics.domain(type)`, one per event
type) and need not know the mesh. A record there is read in one of three forms,
decided from its headers first, then from its value:

1. **CloudEvent, Kafka binary content mode**: it has a `ce_specversion` header
   (CloudEvents 1.0). The value is the event's data; the attributes are headers:
   `ce_id`, `ce_source`, `ce_type` required; `ce_time`, `ce_subject` and
   `content-type` optional.
2. **Mesh envelope**: it has a `mesh-type` header (every mesh producer writes one,
   `Envelope.routing_headers`), or its value is a JSON object whose `type` is the
   topic's type and whose `payload` is an object (an envelope copied by a tool that
   dropped the headers). It is read as it always was.
3. **Bare JSON**: anything else. The value is the payload itself.

A record in CloudEvents *structured* mode (`content-type: application/cloudevents+json`,
no `ce_*` headers) is refused with that reason rather than guessed at.

How the envelope is built:

- `type`: the topic's type. A CloudEvent's `ce_type` must equal it: there is no
  mapping table, the topic already names the type.
- `version`: the `mesh-version` header (a positive integer, the same header a mesh
  producer writes), else the newest version registered for the type.
- `id`: a CloudEvent's id is derived from `ce_source` and `ce_id`, the pair CloudEvents
  makes unique, so a re-delivered or re-sent event is recognised (the worker derives
  the task id from it) while two sources that both number their events from 1 do not
  collide. A bare record has no id of its own; its id is derived from where it sits
  in the log (topic, partition, offset, timestamp), so reading it again after a
  crash or rebalance adopts the same task rather than starting a second one.
- `correlation_id`: `ce_id` for a CloudEvent (what the upstream system knows it by),
  else the envelope id.
- `created_at`: `ce_time` (RFC 3339, with an offset), else the record's timestamp.
- `source`: `ce_source` as the source's agent; none for a bare record.
- `traceparent`/`tracestate`: the W3C headers of those names, if present (for a
  CloudEvent also `ce_traceparent`/`ce_tracestate`, its tracing extension), so the
  upstream's trace goes on into the mesh.

The Kafka key should be the entity id (the ticket id, the order id): records of one
entity then keep their order. The payload of every form is validated against the
schema registered for `(type, version)`; a failure raises `InvalidInput` whose message,
the dead-letter reason, names the header or the field, e.g.
``'support.ticket.created' v2 payload: customer.email: Field required``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from mesh.errors import InvalidInput, first_line
from mesh.topics import Topics
from mesh.transport.base import Delivery
from schemas import header_names
from schemas.envelope import Envelope, Source
from schemas.registry import REGISTRY, MessageRegistry, SchemaError

CE_SPECVERSION = "ce_specversion"
CE_ID = "ce_id"
CE_SOURCE = "ce_source"
CE_TYPE = "ce_type"
CE_TIME = "ce_time"
CONTENT_TYPE = "content-type"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_SUPPORTED_SPECVERSIONS = ("1.0",)
_MAX_PROBLEMS = 5  # validation problems named in one reason
_CLOUD_EVENT_IDS = uuid.UUID("0b8f5a52-2f0e-4f55-9d0c-5b3e7f3c2a61")
_BARE_EVENT_IDS = uuid.UUID("a4c1e9d2-7b36-4a8e-8f15-3d2b6c9e0f47")

Headers = Mapping[str, bytes | None]


def event_type_of(topic: str, topics: Topics, event_types: Iterable[str]) -> str | None:
    """The event type whose domain topic `topic` is, among `event_types`; None if none is."""
    return next((t for t in event_types if topics.domain(t) == topic), None)


def read_domain_event(
    record: Delivery, event_type: str, *, registry: MessageRegistry = REGISTRY
) -> Envelope:
    """The envelope of a record read from `event_type`'s domain topic, its payload valid.

    Args:
        record: The record as consumed.
        event_type: The type the record's topic carries (`Topics.domain(event_type)`).
        registry: Where the payload's schema is looked up.

    Returns:
        The record's envelope: its own for a mesh envelope, else one built around it.

    Raises:
        InvalidInput: the record cannot be read, or its payload fails its schema; the
            message names the header or the field and is meant for the dead-letter reason.
    """
    headers: Headers = record.headers
    if CE_SPECVERSION in headers:
        envelope = _cloud_event(record, event_type, registry)
    elif _text(headers, CONTENT_TYPE, "").lower().startswith("application/cloudevents"):
        raise InvalidInput(
            "CloudEvents structured mode is not read; send binary mode (ce_* headers, "
            "the data as the value)"
        )
    elif header_names.TYPE in headers:
        envelope = _mesh_envelope(record.value)
    else:
        value = _json_value(record.value)
        if _is_envelope_shaped(value, event_type):
            envelope = _mesh_envelope(record.value)
        else:
            envelope = _bare_event(record, event_type, value, registry)
    _validate(envelope, registry)
    return envelope


def _mesh_envelope(value: bytes | None) -> Envelope:
    # The same reason as on an inbox (mesh/runtime/worker.py): it claims to be an envelope.
    try:
        return Envelope.model_validate(orjson.loads(value or b""))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise InvalidInput(f"undecodable envelope: {first_line(exc)}") from None


def _is_envelope_shaped(value: object, event_type: str) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == event_type
        and isinstance(value.get("payload"), dict)
    )


def _bare_event(
    record: Delivery, event_type: str, value: object, registry: MessageRegistry
) -> Envelope:
    coordinates = f"{record.topic}\n{record.partition}\n{record.offset}\n{_millis(record)}"
    envelope_id = uuid.uuid5(_BARE_EVENT_IDS, coordinates).hex
    return Envelope(
        id=envelope_id,
        type=event_type,
        version=_version(record.headers, event_type, registry),
        correlation_id=envelope_id,
        created_at=_record_time(record),
        payload=_payload(value, "value"),
        traceparent=_trace_header(record.headers, TRACEPARENT),
        tracestate=_trace_header(record.headers, TRACESTATE),
    )


def _cloud_event(record: Delivery, event_type: str, registry: MessageRegistry) -> Envelope:
    headers: Headers = record.headers
    specversion = _required(headers, CE_SPECVERSION)
    if specversion not in _SUPPORTED_SPECVERSIONS:
        raise InvalidInput(f"header {CE_SPECVERSION}: {specversion!r} is not supported (1.0 is)")
    ce_id, source = _required(headers, CE_ID), _required(headers, CE_SOURCE)
    ce_type = _required(headers, CE_TYPE)
    if ce_type != event_type:
        raise InvalidInput(
            f"header {CE_TYPE}: {ce_type!r} is not this topic's type {event_type!r}; "
            f"publish {ce_type!r} events to their own topic"
        )
    content_type = _text(headers, CONTENT_TYPE, "application/json")
    if not _is_json(content_type):
        raise InvalidInput(f"header {CONTENT_TYPE}: {content_type!r} is not JSON")
    return Envelope(
        id=uuid.uuid5(_CLOUD_EVENT_IDS, f"{source}\n{ce_id}").hex,
        type=event_type,
        version=_version(headers, event_type, registry),
        correlation_id=ce_id,
        source=Source(agent=source),
        created_at=_event_time(headers) or _record_time(record),
        payload=_payload(_json_value(record.value, "data"), "data"),
        # The CloudEvents tracing extension travels as ce_traceparent/ce_tracestate.
        traceparent=_trace_header(headers, TRACEPARENT, "ce_"),
        tracestate=_trace_header(headers, TRACESTATE, "ce_"),
    )


def _validate(envelope: Envelope, registry: MessageRegistry) -> None:
    try:
        registry.parse(envelope.type, envelope.version, envelope.payload)
    except SchemaError as exc:
        raise InvalidInput(str(exc)) from None
    except ValidationError as exc:
        where = f"{envelope.type!r} v{envelope.version} payload"
        raise InvalidInput(f"{where}: {describe_problems(exc)}") from None


def describe_problems(exc: ValidationError) -> str:
    """Each problem as `field.path: message` (never the offending value: it may be
    personal data), the first few of them, joined by "; "."""
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(the object)'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    ]
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    hidden = len(problems) - _MAX_PROBLEMS
    return f"{shown} (and {hidden} more)" if hidden > 0 else shown


# -- values and headers --------------------------------------------------------------


def _json_value(value: bytes | None, what: str = "value") -> object:
    if not value:
        raise InvalidInput(f"{what}: empty; expected a JSON object")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what}: not JSON ({first_line(exc)})") from None


def _payload(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: expected a JSON object, got {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _text(headers: Headers, name: str, default: str) -> str:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise InvalidInput(f"header {name}: not UTF-8 text") from None


def _required(headers: Headers, name: str) -> str:
    text = _text(headers, name, "")
    if not text:
        raise InvalidInput(f"header {name}: missing; a CloudEvent needs it")
    return text


def _version(headers: Headers, event_type: str, registry: MessageRegistry) -> int:
    text = _text(headers, header_names.VERSION, "")
    if not text:
        try:
            return registry.latest_version(event_type)
        except SchemaError as exc:
            raise InvalidInput(str(exc)) from None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"header {header_names.VERSION}: {text!r} is not a positive integer")
    return int(text)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _event_time(headers: Headers) -> datetime | None:
    text = _text(headers, CE_TIME, "")
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidInput(f"header {CE_TIME}: {text!r} is not an RFC 3339 time with an offset")
    return when


def _record_time(record: Delivery) -> datetime:
    # A record always has a timestamp on Kafka; 0 means the transport gave none.
    return datetime.fromtimestamp(record.timestamp, UTC) if record.timestamp > 0 else _now()


def _millis(record: Delivery) -> int:
    return round(record.timestamp * 1000)


def _now() -> datetime:
    return datetime.now(UTC)


def _trace_header(headers: Headers, name: str, *prefixes: str) -> str | None:
    for candidate in (name, *(prefix + name for prefix in prefixes)):
        if text := _text(headers, candidate, ""):
            return text
    return None
