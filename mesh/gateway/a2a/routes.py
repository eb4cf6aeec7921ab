"""The A2A server (ADR 041): each agent type that takes tasks is an A2A 1.0 agent.

    GET  /a2a/{agent}/.well-known/agent-card.json   its agent card
    POST /a2a/{agent}                               its JSON-RPC endpoint

The methods are A2A 1.0's (`SendMessage`, `SendStreamingMessage`, `GetTask`,
`ListTasks`, `CancelTask`, `SubscribeToTask`, and the push notification configs'
`Create`/`Get`/`List`/`DeleteTaskPushNotificationConfig`), answered from this
replica's view and its mesh client, so every replica serves every task. The root
`/.well-known/agent-card.json` names the agents' cards (a 404: the gateway is no
agent of its own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from a2a.utils.errors import A2AError
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from mesh.errors import UnknownAgent
from mesh.gateway._deps import GatewayDep
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.a2a._card import agent_card
from mesh.gateway.a2a._methods import call_result, call_stream
from mesh.gateway.a2a._rpc import (
    SCOPES,
    STREAMING,
    RpcFailure,
    error_body,
    parse_call,
    result_body,
    sse_frames,
)
from mesh.gateway.a2a._tasks import AgentTasks
from mesh.gateway.auth import Principal, Scope, authenticated, insist, require
from mesh.gateway.gateway import Gateway

# Cards ask `read`; the JSON-RPC endpoint asks its method's scope (`SCOPES`) once the
# method is known: every call is a POST (ADR 046).
router = APIRouter(tags=["a2a"])
Reader = Annotated[Principal, Depends(require(Scope.READ))]
CARD_PATH = "/.well-known/agent-card.json"
JSON_RPC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON-RPC 2.0 request of A2A 1.0 (header `A2A-Version: 1.0`).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _agent(gateway: Gateway, agent: str) -> str:
    try:
        gateway.client.agent(agent)
    except UnknownAgent as exc:
        raise ProblemError(404, "agent", str(exc)) from None
    return agent


@router.get("/a2a/{agent}" + CARD_PATH, responses=problem_responses(404))
async def get_agent_card(
    agent: str, gateway: GatewayDep, request: Request, caller: Reader
) -> JSONResponse:
    """The agent card of an agent type: its JSON-RPC interface, streaming and push
    notifications, one skill (the agent type's task), its input schema."""
    card = gateway.client.agent(_agent(gateway, agent))
    url = str(request.url_for("a2a_rpc", agent=agent))
    return JSONResponse(agent_card(card, url))


@router.get(CARD_PATH, responses=problem_responses(404))
async def root_agent_card(gateway: GatewayDep, request: Request, caller: Reader) -> Response:
    """No card: each agent type is an A2A agent with a card of its own (named here)."""
    cards = [
        str(request.url_for("get_agent_card", agent=card.name))
        for card in gateway.client.agents()
        if card.task_type
    ]
    reason = "each agent type is an A2A agent: its card is at " + (", ".join(cards) or "(none)")
    raise ProblemError(404, "path", reason)


@router.post(
    "/a2a/{agent}",
    name="a2a_rpc",
    responses={
        200: {"content": {"application/json": {}, "text/event-stream": {}}},
        **problem_responses(404),
    },
    openapi_extra=JSON_RPC_BODY,
)
async def a2a_rpc(
    agent: str,
    gateway: GatewayDep,
    request: Request,
    caller: Annotated[Principal, Depends(authenticated)],
) -> Response:
    """A2A 1.0 JSON-RPC: one answer, or for `SendStreamingMessage` and
    `SubscribeToTask` Server-Sent Events, each a JSON-RPC response. The caller sees
    only its tenant's tasks (ADR 046)."""
    tasks = AgentTasks(gateway, _agent(gateway, agent), caller)
    request_id = None
    try:
        call = await parse_call(request)
        request_id = call.id
        insist(caller, SCOPES[call.method])  # a 403, as every route's missing scope
        if call.method in STREAMING:
            return await _streaming(call.id, call_stream(tasks, call))
        result = await call_result(tasks, call)
    except RpcFailure as failure:
        return _json(error_body(failure.id, failure.error))
    except A2AError as exc:
        return _json(error_body(request_id, exc))
    return _json(result_body(request_id, result))


async def _streaming(request_id: str | int | None, results: AsyncIterator[Any]) -> Response:
    """The stream, once its first result is there: an error before it (a bad input,
    an unknown task) is a plain JSON-RPC error answer."""
    try:
        first = await anext(results)
    except A2AError as exc:
        return _json(error_body(request_id, exc))

    async def all_results() -> AsyncIterator[Any]:
        yield first
        async for result in results:
            yield result

    return StreamingResponse(
        sse_frames(request_id, all_results()),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")
