"""Versioned message contracts for agentmesh.

This package depends on pydantic and orjson only; it never imports `mesh` or `agents`.

Importing it registers the mesh's own messages only. An application registers its
contracts in its own modules (the reference application's are `agents.contracts`);
a process that runs none of their agents imports them through `MESH_CONTRACTS`
(mesh/_contracts.py).

Reading order: `envelope` (what every Kafka record carries), `registry` (how a
`(type, version)` pair maps to a payload model, and how old versions are upcast),
`tasks` (the runtime's own messages), `tokens` (streamed model output), `gateway`
(webhook records), `langgraph` (the LangGraph-compatible API's threads and runs),
`supervision` (worker heartbeats and the supervisor's messages), `schedules` (cron
schedules and their progress), `snapshots` (the
committed JSON Schema files).
"""

import schemas.gateway
import schemas.langgraph
import schemas.schedules
import schemas.supervision
import schemas.tasks
import schemas.tokens  # noqa: F401  (registers the runtime messages)
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
