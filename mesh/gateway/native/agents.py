"""`GET /v1/agents`: the agent types and how they fare, for the console's agents page.

All of it from what the gateway already follows (agent cards, live-worker counts,
circuits and the supervisors' status snapshots, in its view) except the lag, which
it asks the broker for (each agent type's group against its inbox and retry topics,
as the supervisor measures it: mesh/supervision/_lag.py).

`POST /v1/agents/{name}/pause|resume` flip an agent type's pause switch (ADR 039), as
`mesh agents pause|resume NAME` does. The switch holds the type for every tenant, so
it wants `admin`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from mesh.errors import TransportError, UnknownAgent
from mesh.gateway._deps import GatewayDep
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.auth import Principal, Scope, require
from mesh.gateway.gateway import Gateway
from mesh.gateway.native.routes import Reader
from mesh.topics import Topics
from schemas.supervision import (
    AgentPause,
    AtRisk,
    CircuitState,
    RecentAction,
    SupervisorStatus,
    WorkerStatus,
)
from schemas.tasks import AgentCard

router = APIRouter(prefix="/v1", tags=["native"], route_class=JsonBodyRoute)

FRESH_STATUS = 30.0  # seconds: an older snapshot is of a supervisor that stopped


class AgentDocument(BaseModel):
    name: str
    description: str
    task_type: str | None
    events: list[str]
    delegates_to: list[str]
    live_workers: int | None = Field(
        description="As the supervisor last judged; null: no supervisor has said."
    )
    workers: list[WorkerStatus] = Field(description="From the newest supervisor snapshot.")
    lag: int | None = Field(description="Records its group has not committed; null: unknown.")
    circuit: CircuitState | None = Field(description="null: never opened (closed).")
    paused: bool = Field(description="Its workers start no new task (`mesh agents pause`).")
    pause: AgentPause | None = Field(description="The latest switch: who, when, why; null: none.")


class AgentsOverview(BaseModel):
    agents: list[AgentDocument] = Field(description="By name.")
    supervisors: list[str] = Field(description="Instances that reported in the last 30 s.")
    at_risk: list[AtRisk]
    recent_actions: list[RecentAction] = Field(description="Oldest first, the last 50.")


@router.get("/agents", response_model=AgentsOverview)
async def list_agents(gateway: GatewayDep, caller: Reader) -> AgentsOverview:
    """Agent types with their live workers, lag, circuit; the supervisors' tasks at
    risk and recent actions."""
    view = gateway.view
    fresh = [s for s in view.supervisors.values() if time.time() - s.at < FRESH_STATUS]
    newest = max(fresh, key=lambda s: s.at, default=None)
    cards = sorted(view.agents.values(), key=lambda card: card.name)
    lags = await asyncio.gather(*(_lag(gateway, card) for card in cards))  # a group each
    return AgentsOverview(
        agents=[_agent(gateway, card, lag, newest) for card, lag in zip(cards, lags, strict=True)],
        supervisors=sorted(s.instance for s in fresh),
        at_risk=[risk for s in fresh for risk in s.at_risk],
        recent_actions=sorted(
            (action for s in fresh for action in s.recent_actions), key=lambda a: a.at
        )[-50:],
    )


def _agent(
    gateway: Gateway, card: AgentCard, lag: int | None, newest: SupervisorStatus | None
) -> AgentDocument:
    return AgentDocument(
        name=card.name,
        description=card.description,
        task_type=card.task_type,
        events=card.events,
        delegates_to=card.delegates_to,
        live_workers=gateway.view.live_workers.get(card.name),
        workers=[w for w in newest.workers if w.agent == card.name] if newest else [],
        lag=lag,
        circuit=gateway.view.circuits.get(card.name),
        paused=gateway.view.is_paused(card.name),
        pause=gateway.view.pauses.get(card.name),
    )


async def _lag(gateway: Gateway, card: AgentCard) -> int | None:
    topics = Topics(gateway.settings.namespace)
    retries = [topics.retry(card.name, tier) for tier in gateway.settings.retry_tiers]
    consumed = [topics.inbox(card.name), *retries, *(topics.domain(e) for e in card.events)]
    try:
        offsets = await gateway.client.transport.offsets(consumed, group=topics.group(card.name))
    except TransportError:
        return None  # the page shows what it can; the broker's trouble shows elsewhere
    return sum(o.lag for o in offsets)


Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
AgentName = Annotated[str, Path(max_length=200, description="The agent type.")]


class PauseAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000, description="Shown with the held tasks.")


@router.post(
    "/agents/{name}/pause", response_model=AgentPause, responses=problem_responses(404, 503)
)
async def pause_agent(
    name: AgentName,
    gateway: GatewayDep,
    caller: Admin,
    body: Annotated[PauseAgent | None, Body()] = None,
) -> AgentPause:
    """Its workers start no new task until it is resumed; in-flight ones finish and
    submitted ones wait (`mesh agents pause NAME`)."""
    reason = body.reason if body is not None else ""
    return await _switch(gateway, name, caller, paused=True, reason=reason)


@router.post(
    "/agents/{name}/resume", response_model=AgentPause, responses=problem_responses(404, 503)
)
async def resume_agent(name: AgentName, gateway: GatewayDep, caller: Admin) -> AgentPause:
    """Its workers start tasks again, the waiting ones first (`mesh agents resume NAME`)."""
    return await _switch(gateway, name, caller, paused=False, reason="")


async def _switch(
    gateway: Gateway, name: str, caller: Principal, *, paused: bool, reason: str
) -> AgentPause:
    client = gateway.client
    try:
        if paused:
            await client.pause_agent(name, reason=reason, by=caller.name)
        else:
            await client.resume_agent(name, by=caller.name)
    except UnknownAgent as exc:
        raise ProblemError(404, "name", str(exc)) from None
    return gateway.view.pauses[name]
