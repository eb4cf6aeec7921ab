"""The gateway's own records: completion webhooks and their delivery status (ADR 011)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from schemas.registry import REGISTRY

WEBHOOK = "mesh.gateway.webhook"


class WebhookStatus(StrEnum):
    PENDING = "pending"  # registered, or failed and waiting for its next attempt
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"  # every attempt failed; no more are made


@REGISTRY.register(WEBHOOK, 1)
class WebhookDelivery(BaseModel):
    """A task's completion webhook: the latest record per task id (compacted topic)."""

    task_id: str
    url: str
    status: WebhookStatus = WebhookStatus.PENDING
    attempts: int = Field(default=0, ge=0)
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    updated_at: datetime


A2A_PUSH = "mesh.gateway.a2a.push"


@REGISTRY.register(A2A_PUSH, 1)
class A2APushConfig(BaseModel):
    """An A2A push notification config of a task (ADR 041): the latest record per task
    id and config id (compacted topic); `deleted` once a client deleted it. The token
    and credentials are the client's own, sent back with each notification."""

    task_id: str
    config_id: str
    url: str
    token: str = ""
    auth_scheme: str = ""
    auth_credentials: str = ""
    deleted: bool = False
    updated_at: datetime
