"""The native API under `/v1`: submit, read, steer, cancel, list and follow tasks;
publish domain events. Reads come from the gateway's view, never from Kafka."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from mesh.errors import InvalidInput, UnknownAgent
from mesh.gateway._deps import GatewayDep
from mesh.gateway._index import SortKey, TaskFilter
from mesh.gateway._json_body import JsonBodyRoute, JsonObject
from mesh.gateway._problems import ProblemError, invalid_fields, problem_responses
from mesh.gateway._retention import task_not_found
from mesh.gateway._webhook_delivery import refuse_without_secret
from mesh.gateway.auth import Principal, Scope, require
from mesh.gateway.gateway import Gateway
from mesh.gateway.native._models import (
    CancelTask,
    ControlAccepted,
    EventAccepted,
    SteerTask,
    SubmitTask,
    TaskAccepted,
    TaskDocument,
    TaskPage,
    task_document,
)
from mesh.gateway.native._sse import follow_task_events
from mesh.gateway.native.webhooks import record_webhook
from mesh.models.accounting import tree_usage
from schemas import REGISTRY
from schemas.envelope import new_id, utc_now
from schemas.gateway import WebhookDelivery
from schemas.registry import UnknownMessageType, UnsupportedVersion
from schemas.tasks import TaskState, TaskStatus

router = APIRouter(prefix="/v1", tags=["native"], route_class=JsonBodyRoute)

Submitter = Annotated[Principal, Depends(require(Scope.SUBMIT))]
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Operator = Annotated[Principal, Depends(require(Scope.OPERATE))]


def visible_task(gateway: Gateway, task_id: str, caller: Principal) -> TaskState:
    """The task, if `caller` may see it; another tenant's is "not found", as an unknown
    one: a 403 would tell the caller that the id exists."""
    state = gateway.view.tasks.get(task_id)
    if state is None or not caller.sees(state.tenant):
        raise task_not_found(gateway.view.retention, task_id)
    return state


def _running(gateway: Gateway, task_id: str, caller: Principal) -> TaskState:
    state = visible_task(gateway, task_id, caller)
    if state.status.is_terminal:
        raise ProblemError(409, "task_id", f"task {task_id!r} has already ended ({state.status})")
    return state


@router.post(
    "/tasks",
    status_code=202,
    response_model=TaskAccepted,
    responses=problem_responses(404, 503),
)
async def submit_task(
    body: SubmitTask, gateway: GatewayDep, request: Request, response: Response, caller: Submitter
) -> TaskAccepted:
    """Submit a task to an agent; 202 with its id at once (the same for a repeated key).
    The input is checked against the agent's input schema first (422 naming each field
    that does not fit); nothing is produced for a bad one."""
    try:
        gateway.client.agent(body.agent)
    except UnknownAgent as exc:
        raise ProblemError(404, "body.agent", str(exc)) from None
    if body.webhook is not None:
        refuse_without_secret(gateway.settings)
    try:
        task_id = await gateway.client.submit(
            body.agent,
            body.input,
            idempotency_key=body.idempotency_key,
            deadline=body.deadline,
            priority=body.priority,
            budget=body.budget,
            tenant=caller.tenant,
        )
    except InvalidInput as exc:  # a field misfits, or too large once enveloped
        raise invalid_fields(("body", "input"), exc.errors, str(exc)) from None
    if body.webhook is not None and task_id not in gateway.view.webhooks:
        registration = WebhookDelivery(task_id=task_id, url=str(body.webhook), updated_at=utc_now())
        await record_webhook(gateway.client.publisher, registration)
    status_url = str(request.url_for("get_task", task_id=task_id).path)
    response.headers["Location"] = status_url
    return TaskAccepted(task_id=task_id, status_url=status_url)


@router.get("/tasks/{task_id}", response_model=TaskDocument, responses=problem_responses(404, 410))
async def get_task(task_id: str, gateway: GatewayDep, caller: Reader) -> Response:
    """Status, progress so far, result or error, children, attempt, times, webhook;
    model usage, its own and its tree's (`usage_total`)."""
    state = gateway.view.with_held(visible_task(gateway, task_id, caller))
    total = tree_usage(gateway.view.tasks, task_id)
    document = task_document(state, gateway.view.webhooks.get(task_id), total)
    return Response(document, media_type="application/json")


@router.get("/tasks", response_model=TaskPage, responses=problem_responses(400))
async def list_tasks(
    gateway: GatewayDep,
    caller: Reader,
    status: TaskStatus | None = None,
    agent: Annotated[str | None, Query(max_length=200)] = None,
    root: Annotated[str | None, Query(max_length=200)] = None,
    correlation: Annotated[
        str | None,
        Query(
            max_length=200,
            description="An event id (from `POST /v1/events`): the tasks it started, "
            "with their descendants.",
        ),
    ] = None,
    tenant: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Only this tenant's tasks (a caller with a tenant "
            "sees only its own, whatever this says).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """Newest first; pass `next_cursor` back as `cursor` for the next page."""
    before = _decode_cursor(cursor) if cursor else None
    if caller.tenant is not None and tenant not in (None, caller.tenant):
        return Response(b'{"tasks":[],"next_cursor":null}', media_type="application/json")
    where = TaskFilter(
        status=status,
        agent=agent,
        root=root,
        correlation=correlation,
        tenant=caller.tenant or tenant,
    )
    found = gateway.view.page(where, before=before, limit=limit)
    more = len(found) == limit
    documents = b",".join(task_document(s, gateway.view.webhooks.get(s.task_id)) for s in found)
    next_cursor = orjson.dumps(_encode_cursor(found[-1]) if more and found else None)
    page = b'{"tasks":[' + documents + b'],"next_cursor":' + next_cursor + b"}"
    return Response(page, media_type="application/json")


@router.post(
    "/tasks/{task_id}/messages",
    status_code=202,
    response_model=ControlAccepted,
    responses=problem_responses(404, 409, 410, 503),
)
async def steer_task(
    task_id: str, body: SteerTask, gateway: GatewayDep, caller: Operator
) -> ControlAccepted:
    """Send a steering message to a task that has not ended."""
    _running(gateway, task_id, caller)
    await gateway.client.steer(task_id, body.text, **body.data)
    return ControlAccepted(task_id=task_id)


@router.post(
    "/tasks/{task_id}/cancel",
    status_code=202,
    response_model=ControlAccepted,
    responses=problem_responses(404, 409, 410, 503),
)
async def cancel_task(
    task_id: str,
    gateway: GatewayDep,
    caller: Operator,
    body: Annotated[CancelTask | None, Body()] = None,
) -> ControlAccepted:
    """Cancel a task that has not ended; its worker cancels its children in turn."""
    _running(gateway, task_id, caller)
    await gateway.client.cancel(task_id, (body or CancelTask()).reason)
    return ControlAccepted(task_id=task_id)


@router.get(
    "/tasks/{task_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **problem_responses(404, 410)},
)
async def task_events(
    task_id: str,
    gateway: GatewayDep,
    caller: Reader,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
    after: Annotated[
        str | None,
        Query(
            max_length=200,
            description="An event id: start after it, as `Last-Event-ID` does (which "
            "a browser's EventSource cannot set on a new stream); the header wins.",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events: the task's events so far, then live ones until it ends.
    Each `id:` is the event's id; reconnect with `Last-Event-ID` to resume after it.
    Interleaved, `event: token` frames (no `id:`) carry the text its model calls
    stream as it is generated (`ctx.chat(..., stream=True)`)."""
    visible_task(gateway, task_id, caller)
    return StreamingResponse(
        follow_task_events(gateway.view, task_id, last_event_id or after, gateway.tokens),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/events/{event_type}",
    status_code=202,
    response_model=EventAccepted,
    responses=problem_responses(404, 503),
)
async def publish_event(
    event_type: str,
    gateway: GatewayDep,
    caller: Submitter,
    payload: Annotated[JsonObject, Body()],
    version: Annotated[int | None, Query(ge=1)] = None,
    key: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> EventAccepted:
    """Publish a domain event, validated against its registered schema (`version`:
    the newest when omitted); `key` orders events of one entity (random if omitted).
    What is published is the schema's model of the payload: fields it does not know
    are dropped. The answer's `id` is the event's: the tasks it starts carry it as
    their `correlation_id` (`GET /v1/tasks?correlation=<id>`)."""
    if event_type.startswith("mesh."):
        reason = f"{event_type!r} is the runtime's, not a domain event"
        raise ProblemError(404, "event_type", reason)
    try:
        version = version or REGISTRY.latest_version(event_type)
        REGISTRY.model_for(event_type, version)
    except UnknownMessageType:
        raise ProblemError(404, "event_type", f"no schema registered for {event_type!r}") from None
    except UnsupportedVersion as exc:
        raise ProblemError(422, "query.version", str(exc)) from None
    try:
        message_id = await gateway.client.publish_raw(
            event_type, payload, key=key or new_id(), version=version, tenant=caller.tenant
        )
    except InvalidInput as exc:
        raise invalid_fields(("body",), exc.errors, str(exc)) from None
    return EventAccepted(id=message_id, type=event_type, version=version)


def _encode_cursor(state: TaskState) -> str:
    key = [state.created_at.timestamp(), state.task_id]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def _decode_cursor(cursor: str) -> SortKey:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        created, task_id = raw
        if isinstance(created, int | float) and isinstance(task_id, str):
            return (float(created), task_id)
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        pass
    reason = "not a cursor this API returned (pass next_cursor as is)"
    raise ProblemError(400, "query.cursor", reason)
