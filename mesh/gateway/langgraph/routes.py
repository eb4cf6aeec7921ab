"""The LangGraph Agent Server compatible API at the root (threads, runs, assistants).

Each mesh agent type that takes tasks is an assistant (`assistant_id` = its name),
each run a mesh task, and threads live in Kafka (ADR 012), so `langgraph-sdk`
clients and Deep Agents async subagents can delegate to mesh agents through any
gateway replica. The shapes are those real clients send and read (`wire`); the
langgraph-sdk tests (tests/gateway/test_langgraph_sdk.py) pin them.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from mesh.client import Client
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.auth import Principal, caller_by_method
from mesh.gateway.gateway import Gateway
from mesh.gateway.langgraph._conversation import RunView
from mesh.gateway.langgraph._run_queue import QueueDriver
from mesh.gateway.langgraph._service import LangGraphService
from mesh.gateway.langgraph._stream import (
    json_when_ready,
    outcome_when_ended,
    run_events,
    stream_modes,
)
from mesh.gateway.langgraph._threads import ThreadStore
from mesh.gateway.langgraph._webhooks import RunWebhooks
from mesh.gateway.langgraph._wire import (
    AssistantSearch,
    HistoryRequest,
    RunCreate,
    RunsCancel,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
    assistant_json,
    run_json,
    thread_history_json,
    thread_json,
    thread_state_json,
)
from schemas.envelope import utc_now
from schemas.langgraph import RunRecord

router = APIRouter(tags=["langgraph"], route_class=JsonBodyRoute)

# The caller, authenticated once per request (the router's own guard, `create_app`,
# is this dependency: FastAPI caches it). A thread is its tenant's (ADR 046).
Caller = Annotated[Principal, Depends(caller_by_method)]

# What the routes answer besides their success: an unknown thread, run or assistant
# (404); a thread busy under `reject`, or no question to resume (409); the broker
# refusing a write (503).
_READ = problem_responses(404)
_WRITE = problem_responses(404, 503)
_RUN = problem_responses(404, 409, 503)
_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}
}


def thread_store(client: Client) -> ThreadStore:
    """The threads and runs, to hand to the `Gateway` (`also_follow`): its start reads
    them with its view and catches them up, its stop ends them (ADR 053)."""
    return ThreadStore(client.transport, client.publisher, partitions=client.settings.partitions)


@contextlib.asynccontextmanager
async def serving(app: FastAPI, gateway: Gateway, store: ThreadStore) -> AsyncIterator[None]:
    """Run the queue driver and the webhook sender while the app serves, on `store`
    (`thread_store`, read and caught up by the gateway's start)."""
    client = gateway.client
    gateway.view.keepers.append(store.shows_task)  # a thread's answers stay readable
    driver = QueueDriver(client.transport, client, store)
    webhooks = RunWebhooks(client, store, owns=driver.owns)
    try:
        await driver.start()
        await webhooks.start()
        app.state.langgraph = LangGraphService(client, store, driver, tokens=gateway.tokens)
        yield
    finally:
        gateway.view.keepers.remove(store.shows_task)
        await webhooks.stop()
        await driver.stop()


def _service(request: Request) -> LangGraphService:
    service: LangGraphService = request.app.state.langgraph
    return service


def _run_location(run: RunRecord) -> dict[str, str]:
    # langgraph-sdk's `on_run_created` reads the ids from it.
    return {"Content-Location": f"/threads/{run.thread_id}/runs/{run.run_id}"}


@router.get("/ok")
async def ok() -> dict[str, bool]:
    return {"ok": True}


@router.get("/info")
async def info() -> dict[str, Any]:
    return {"version": "agentmesh", "flags": {}, "metadata": {}}


# -- assistants ------------------------------------------------------------------------


@router.post("/assistants/search")
async def search_assistants(
    request: Request, body: AssistantSearch | None = None
) -> list[dict[str, Any]]:
    body = body or AssistantSearch()
    wanted = body.graph_id or body.name
    cards = [c for c in _service(request).assistants() if wanted in (None, c.name)]
    return [assistant_json(card) for card in cards[body.offset : body.offset + body.limit]]


@router.get("/assistants/{assistant_id}", responses=_READ)
async def get_assistant(request: Request, assistant_id: str) -> dict[str, Any]:
    for card in _service(request).assistants():
        if card.name == assistant_id:
            return assistant_json(card)
    raise ProblemError(404, "assistant_id", f"assistant {assistant_id!r} not found")


# -- threads ---------------------------------------------------------------------------


@router.post("/threads", responses=problem_responses(409, 503))
async def create_thread(
    request: Request, caller: Caller, body: ThreadCreate | None = None
) -> dict[str, Any]:
    body = body or ThreadCreate()  # a client may send no body at all
    service = _service(request)
    thread = await service.create_thread(body, caller=caller)
    return thread_json(service.now(thread))


@router.post("/threads/search")
async def search_threads(
    request: Request, caller: Caller, body: ThreadSearch | None = None
) -> list[dict[str, Any]]:
    """The caller's threads, newest first; the cheap filters (ids, metadata) go before
    the derived status."""
    body = body or ThreadSearch()
    service = _service(request)
    threads = service.threads(caller)
    matching = (
        service.now(thread)
        for thread in threads
        if (body.ids is None or thread.thread_id in body.ids)
        and all(thread.metadata.get(k) == v for k, v in body.metadata.items())
    )
    found = (now for now in matching if body.status in (None, now.status))
    page = itertools.islice(found, body.offset, body.offset + body.limit)
    return [thread_json(now) for now in page]


@router.get("/threads/{thread_id}", responses=_READ)
async def get_thread(request: Request, thread_id: str, caller: Caller) -> dict[str, Any]:
    return thread_json(await _service(request).thread(thread_id, caller=caller))


@router.patch("/threads/{thread_id}", responses=_WRITE)
async def patch_thread(
    request: Request, thread_id: str, body: ThreadPatch, caller: Caller
) -> dict[str, Any]:
    service = _service(request)
    now = await service.thread(thread_id, caller=caller)
    patched = now.thread.model_copy(
        update={"metadata": {**now.thread.metadata, **body.metadata}, "updated_at": utc_now()}
    )
    await service.store.put_thread(patched)
    return thread_json(service.now(patched))


@router.delete("/threads/{thread_id}", status_code=204, responses=_WRITE)
async def delete_thread(request: Request, thread_id: str, caller: Caller) -> Response:
    await _service(request).delete_thread(thread_id, caller=caller)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/history", responses=_READ)
async def get_thread_history(
    request: Request, thread_id: str, caller: Caller, body: HistoryRequest | None = None
) -> list[dict[str, Any]]:
    body = body or HistoryRequest()
    states = thread_history_json(await _service(request).thread(thread_id, caller=caller))
    before = body.before.get("checkpoint_id") if isinstance(body.before, dict) else body.before
    ids = [state["checkpoint"]["checkpoint_id"] for state in states]
    if before in ids:
        states = states[ids.index(before) + 1 :]
    return states[: body.limit]


@router.get("/threads/{thread_id}/state", responses=_READ)
async def get_thread_state(request: Request, thread_id: str, caller: Caller) -> dict[str, Any]:
    return thread_state_json(await _service(request).thread(thread_id, caller=caller))


# -- runs ------------------------------------------------------------------------------


@router.post("/threads/{thread_id}/runs", responses=_RUN)
async def create_run(
    request: Request, thread_id: str, body: RunCreate, caller: Caller
) -> JSONResponse:
    return _created(await _service(request).create_run(thread_id, body, caller=caller))


@router.post("/threads/{thread_id}/runs/wait", responses=_RUN)
async def create_run_and_wait(
    request: Request, thread_id: str, body: RunCreate, caller: Caller
) -> StreamingResponse:
    service = _service(request)
    return _waiting(service, await service.create_run(thread_id, body, caller=caller), caller)


@router.post("/threads/{thread_id}/runs/stream", responses={**_SSE, **_RUN})
async def create_run_and_stream(
    request: Request, thread_id: str, body: RunCreate, caller: Caller
) -> StreamingResponse:
    service = _service(request)
    run = await service.create_run(thread_id, body, caller=caller)
    return _streaming(service, run, body.stream_mode, caller)


# Stateless runs: each on a new thread, deleted after the run unless on_completion="keep".


@router.post("/runs", responses=_RUN)
async def create_stateless_run(request: Request, body: RunCreate, caller: Caller) -> JSONResponse:
    return _created(await _service(request).create_stateless_run(body, caller=caller))


@router.post("/runs/wait", responses=_RUN)
async def create_stateless_run_and_wait(
    request: Request, body: RunCreate, caller: Caller
) -> StreamingResponse:
    service = _service(request)
    return _waiting(service, await service.create_stateless_run(body, caller=caller), caller)


@router.post("/runs/stream", responses={**_SSE, **_RUN})
async def create_stateless_run_and_stream(
    request: Request, body: RunCreate, caller: Caller
) -> StreamingResponse:
    service = _service(request)
    run = await service.create_stateless_run(body, caller=caller)
    return _streaming(service, run, body.stream_mode, caller)


@router.post("/runs/cancel", status_code=204, responses=_WRITE)
async def cancel_runs(
    request: Request,
    body: RunsCancel,
    caller: Caller,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    service = _service(request)
    await service.cancel_many(body.thread_id, body.run_ids, body.status, caller=caller)
    return Response(status_code=204)


def _created(run: RunView) -> JSONResponse:
    return JSONResponse(run_json(run), headers=_run_location(run.record))


def _waiting(service: LangGraphService, run: RunView, caller: Principal) -> StreamingResponse:
    record = run.record
    return StreamingResponse(
        json_when_ready(outcome_when_ended(service, record.thread_id, record.run_id, caller)),
        media_type="application/json",
        headers=_run_location(record),
    )


def _streaming(
    service: LangGraphService, run: RunView, modes: str | list[str], caller: Principal
) -> StreamingResponse:
    record = run.record
    return StreamingResponse(
        run_events(service, record.thread_id, record.run_id, stream_modes(modes), caller),
        media_type="text/event-stream",
        headers={**_run_location(record), "Cache-Control": "no-store"},
    )


@router.get("/threads/{thread_id}/runs", responses=_READ)
async def list_runs(
    request: Request,
    thread_id: str,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: str | None = None,
) -> list[dict[str, Any]]:
    now = await _service(request).thread(thread_id, caller=caller)
    newest_first = [run for run in reversed(now.runs) if status in (None, run.status)]
    return [run_json(run) for run in newest_first[offset : offset + limit]]


@router.get("/threads/{thread_id}/runs/{run_id}", responses=_READ)
async def get_run(request: Request, thread_id: str, run_id: str, caller: Caller) -> dict[str, Any]:
    _, run = await _service(request).run(thread_id, run_id, caller=caller)
    return run_json(run)


@router.post(
    "/threads/{thread_id}/runs/{run_id}/cancel",
    response_model=None,
    status_code=202,
    responses={200: {"description": "With `wait`: the run's outcome once it ended"}, **_WRITE},
)
async def cancel_run(
    request: Request,
    thread_id: str,
    run_id: str,
    caller: Caller,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response | StreamingResponse:
    service = _service(request)
    await service.cancel_run(thread_id, run_id, caller=caller)
    if not wait:
        return Response(status_code=202)
    return StreamingResponse(
        json_when_ready(outcome_when_ended(service, thread_id, run_id, caller)),
        media_type="application/json",
    )


@router.get("/threads/{thread_id}/runs/{run_id}/join", responses=_READ)
async def join_run(
    request: Request, thread_id: str, run_id: str, caller: Caller
) -> StreamingResponse:
    service = _service(request)
    await service.run(thread_id, run_id, caller=caller)  # a 404 before the stream starts
    return StreamingResponse(
        json_when_ready(outcome_when_ended(service, thread_id, run_id, caller)),
        media_type="application/json",
    )


@router.get("/threads/{thread_id}/runs/{run_id}/stream", responses={**_SSE, **_READ})
async def join_run_stream(
    request: Request,
    thread_id: str,
    run_id: str,
    caller: Caller,
    stream_mode: Annotated[list[str] | None, Query()] = None,
) -> StreamingResponse:
    service = _service(request)
    await service.run(thread_id, run_id, caller=caller)
    return StreamingResponse(
        run_events(service, thread_id, run_id, stream_modes(stream_mode), caller),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )
