"""The envelope: the one shape every record on every mesh topic has.

The payload stays a plain JSON object here; `schemas.registry` turns it into the
typed model registered for `(type, version)`. Routing-relevant fields are copied
into Kafka headers (`routing_headers`) so routers and tracers never decode payloads.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas import header_names


def new_id() -> str:
    """A fresh, globally unique message or task id (128 random bits, as hex)."""
    return os.urandom(16).hex()


def utc_now() -> datetime:
    return datetime.now(UTC)


class Source(BaseModel):
    """Who produced a message: an agent type and the instance (process) within it."""

    model_config = ConfigDict(frozen=True)

    agent: str
    instance: str = ""


class Budget(BaseModel):
    """What a task tree may spend on model calls (ADR 025): USD, tokens, or both.

    Set on a root task; its descendants draw from the same budget (`root_task_id`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.usd is None and self.tokens is None:
            raise ValueError('a budget needs "usd", "tokens" or both, e.g. {"usd": 0.5}')
        return self


class Envelope(BaseModel):
    """Metadata around one typed payload.

    Attributes:
        id: unique message id; duplicates of one message share it.
        type: dotted message type, e.g. ``support.ticket.created``.
        version: schema version of ``payload`` for ``type``.
        task_id: the task this message belongs to (if any).
        parent_task_id: the task that delegated ``task_id``.
        root_task_id: the first task of the delegation tree.
        correlation_id: shared by every message of one business flow.
        causation_id: the id of the message that caused this one.
        idempotency_key: caller-chosen key that makes a submission idempotent.
        reply_to: topic that wants the outcome of ``task_id``.
        deadline: absolute UTC time after which the work is useless.
        priority: higher runs first where a choice exists.
        attempt: 1 for the first delivery of a task, +1 per retry.
        replay: how many times the task was replayed from the dead-letter queue; a
            replay is a new run that deduplication does not absorb.
        tenant: owner of the work, for multi-tenant meshes.
        budget: what the task tree may spend on model calls; children inherit it.
        traceparent: W3C trace context of the producing span.
        tracestate: its vendor-specific W3C `tracestate`, when there is one.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(default_factory=new_id)
    type: str
    version: int = Field(default=1, ge=1)
    task_id: str | None = None
    parent_task_id: str | None = None
    root_task_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    source: Source | None = None
    reply_to: str | None = None
    deadline: datetime | None = None
    priority: int = 0
    attempt: int = Field(default=1, ge=1)
    replay: int = Field(default=0, ge=0)
    tenant: str | None = None
    budget: Budget | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    created_at: datetime = Field(default_factory=utc_now)
    payload: dict[str, Any] = Field(default_factory=dict)

    def routing_headers(self) -> dict[str, bytes]:
        """Kafka headers that let routers and tracers work without decoding the value."""
        routing = {
            header_names.ID: self.id.encode(),
            header_names.TYPE: self.type.encode(),
            header_names.VERSION: b"%d" % self.version,
        }
        if self.task_id:
            routing[header_names.TASK_ID] = self.task_id.encode()
        if self.root_task_id:
            routing[header_names.ROOT_TASK_ID] = self.root_task_id.encode()
        if self.tenant:
            routing[header_names.TENANT] = self.tenant.encode()
        if self.traceparent:
            routing[header_names.TRACEPARENT] = self.traceparent.encode()
        if self.tracestate:
            routing[header_names.TRACESTATE] = self.tracestate.encode()
        return routing


def encode_envelope(envelope: Envelope) -> bytes:
    """Encode to JSON bytes; `exclude_none` keeps records small.

    pydantic-core writes the bytes itself: half the cost of `model_dump` + orjson,
    and this runs for every record the mesh produces.
    """
    return _ENVELOPE_SERIALIZER.to_json(envelope, exclude_none=True)


_ENVELOPE_SERIALIZER = Envelope.__pydantic_serializer__


def decode_envelope(raw: bytes) -> Envelope:
    """Decode and validate an envelope.

    Raises:
        orjson.JSONDecodeError: the bytes are not JSON.
        pydantic.ValidationError: the JSON is not an envelope.
    """
    return Envelope.model_validate(orjson.loads(raw))
