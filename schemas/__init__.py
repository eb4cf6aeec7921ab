"""Versioned message contracts for agentmesh.

This package depends on pydantic and orjson only; it never imports `mesh` or `agents`.

Reading order: `envelope` (what every Kafka record carries), `registry` (how a
`(type, version)` pair maps to a payload model, and how old versions are upcast),
`tasks` (the runtime's own messages), `gateway` (webhook records), `supervision`
(worker heartbeats and the supervisor's messages), `support` (the reference application's
domain events and task inputs), `snapshots` (the committed JSON Schema files).
"""

import schemas.gateway
import schemas.langgraph
import schemas.supervision
import schemas.support
import schemas.tasks  # noqa: F401  (registers the runtime messages)
from schemas.envelope import Envelope, Source, decode_envelope, encode_envelope
from schemas.registry import (
    REGISTRY,
    IncompatibleChange,
    MessageRegistry,
    SchemaError,
    UnknownMessageType,
    UnsupportedVersion,
)

__all__ = [
    "REGISTRY",
    "Envelope",
    "IncompatibleChange",
    "MessageRegistry",
    "SchemaError",
    "Source",
    "UnknownMessageType",
    "UnsupportedVersion",
    "decode_envelope",
    "encode_envelope",
]
