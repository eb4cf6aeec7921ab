"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mesh.gateway._deps import GatewayDep
from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import problem, problem_responses

router = APIRouter(tags=["operations"], route_class=JsonBodyRoute)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"content": {"application/json": {"example": {"status": "ready"}}}},
        **problem_responses(503),
    },
)
async def readyz(gateway: GatewayDep) -> Response:
    """200 once the view has caught up with the topics (and follows them); else 503."""
    reason = await gateway.not_ready_reason()
    if reason is not None:
        return problem(503, "Service Unavailable", reason)
    return Response(b'{"status":"ready"}', media_type="application/json")


@router.get("/metrics", responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics() -> Response:
    """Prometheus text format (names prefixed `mesh_`)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
