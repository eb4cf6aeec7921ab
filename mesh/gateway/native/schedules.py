"""Schedules through the gateway (the console's schedules page; ADR 040, 047): list them,
pause, resume or delete one, over mesh/schedules/operate.py, as `mesh schedule
list|pause|resume|delete` does from a shell.

Both read the schedules topic on request (the view does not follow it): an operator's
action, not a hot path. Schedules belong to no tenant (their tasks are submitted with
none), so, like a task of no tenant, only a caller of every tenant sees them: a
tenant's caller gets an empty list, and "not found" for a name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from mesh.errors import InvalidInput
from mesh.gateway._deps import GatewayDep
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.auth import Principal
from mesh.gateway.native.routes import Operator, Reader
from mesh.schedules import operate
from schemas.schedules import Overlap

router = APIRouter(prefix="/v1", tags=["native"], route_class=JsonBodyRoute)

ScheduleName = Annotated[str, Path(max_length=64, description="The schedule's name.")]


class ScheduleDocument(BaseModel):
    name: str
    cron: str
    tz: str = Field(description="The IANA time zone the cron expression is read in.")
    agent: str
    input: dict[str, Any]
    overlap: Overlap
    jitter: float = Field(description="Seconds: each tick fires up to this late.")
    paused: bool
    next_fire: float | None = Field(description="Epoch seconds; null while paused.")
    last_tick: float | None = Field(description="The latest tick handled; null: none yet.")
    last_task_id: str | None
    submitted: int
    skipped: int
    last_error: str | None = Field(description="Why the latest tick was not submitted.")


class ScheduleList(BaseModel):
    schedules: list[ScheduleDocument] = Field(description="By name.")


def _document(listed: operate.Listed) -> ScheduleDocument:
    schedule, done = listed.schedule, listed.progress
    return ScheduleDocument(
        **schedule.model_dump(include={"name", "cron", "tz", "agent", "input", "overlap"}),
        jitter=schedule.jitter,
        paused=schedule.paused,
        next_fire=listed.next_fire,
        last_tick=done.last_tick if done else None,
        last_task_id=done.last_task_id if done else None,
        submitted=done.submitted if done else 0,
        skipped=done.skipped if done else 0,
        last_error=done.last_error if done else None,
    )


@router.get("/schedules", response_model=ScheduleList, responses=problem_responses(503))
async def list_schedules(gateway: GatewayDep, caller: Reader) -> ScheduleList:
    """Every schedule with its next fire time and what its ticks did (`mesh schedule
    list`). Empty for a caller of one tenant: schedules belong to none."""
    if not caller.sees(None):
        return ScheduleList(schedules=[])
    return ScheduleList(
        schedules=[_document(listed) for listed in await operate.listing(gateway.client)]
    )


async def _switch(
    gateway: GatewayDep, caller: Principal, name: str, *, paused: bool | None, deleted: bool
) -> operate.Listed:
    if not caller.sees(None):
        raise ProblemError(404, "name", f"no schedule named {name!r}")
    try:
        return await operate.switch(gateway.client, name, paused=paused, deleted=deleted)
    except InvalidInput as exc:
        raise ProblemError(404, "name", str(exc)) from None


@router.post(
    "/schedules/{name}/pause",
    response_model=ScheduleDocument,
    responses=problem_responses(404, 503),
)
async def pause_schedule(name: ScheduleName, gateway: GatewayDep, caller: Operator) -> Any:
    """Fire no tick of it until it is resumed (`mesh schedule pause NAME`)."""
    return _document(await _switch(gateway, caller, name, paused=True, deleted=False))


@router.post(
    "/schedules/{name}/resume",
    response_model=ScheduleDocument,
    responses=problem_responses(404, 503),
)
async def resume_schedule(name: ScheduleName, gateway: GatewayDep, caller: Operator) -> Any:
    """Fire its ticks again; those that fell in the pause are not caught up."""
    return _document(await _switch(gateway, caller, name, paused=False, deleted=False))


@router.delete(
    "/schedules/{name}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404, 503),
)
async def delete_schedule(name: ScheduleName, gateway: GatewayDep, caller: Operator) -> Response:
    """Remove it: no tick of it fires again (`mesh schedule delete NAME`)."""
    await _switch(gateway, caller, name, paused=None, deleted=True)
    return Response(status_code=204)
