"""Errors as JSON problem bodies (RFC 9457) that name the field and the reason.

Every 4xx and 5xx the gateway answers is `application/problem+json` with an `errors`
list: one `{"field", "reason"}` per field to fix (`body.input.text`, `query.limit`,
`task_id`), empty when no single field is to blame (an unknown path, a method the
path does not take). Routes raise `ProblemError` to name the field; the OpenAPI
document describes the body once, as `Problem` (mesh/gateway/_openapi.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Route

from mesh.errors import FieldError, TransportError

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    field: str = Field(description="Where: `body.input.text`, `query.limit`, `task_id`...")
    reason: str


class Problem(BaseModel):
    """The body of every error answer (RFC 9457, plus `errors`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = Field(description="The first field and its reason, or what went wrong.")
    errors: list[FieldProblem] = Field(
        default_factory=list, description="Each field to fix; empty when none is to blame."
    )


class ProblemError(HTTPException):
    """An HTTP error that names the field(s) at fault."""

    def __init__(
        self,
        status: int,
        field: str,
        reason: str,
        *,
        more: list[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, f"{field}: {reason}", dict(headers) if headers else None)
        self.errors = [FieldProblem(field=field, reason=reason), *(more or [])]


def invalid_fields(
    prefix: tuple[str, ...], errors: tuple[FieldError, ...], reason: str
) -> ProblemError | RequestValidationError:
    """A 422 naming each of `errors` below `prefix` (e.g. ("body", "input")); with no
    errors, `prefix` itself for `reason`."""
    if not errors:
        return ProblemError(422, ".".join(prefix), reason)
    return RequestValidationError(
        [{"loc": (*prefix, *e.path), "msg": e.reason, "type": "value_error"} for e in errors]
    )


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors or [])
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers) if headers else None,
    )


def install_problem_handlers(app: FastAPI, *, routes: Sequence[BaseRoute]) -> None:
    """`routes`: every route of the app, in routing order (for `Allow` on a 405)."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldProblem(field=".".join(str(part) for part in error["loc"]), reason=error["msg"])
            for error in exc.errors()
        ]
        first = f"{errors[0].field}: {errors[0].reason}" if errors else "invalid request"
        return problem(422, _title(422), first, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own (404 for an unknown path, 405) come here too: headers kept.
        errors = exc.errors if isinstance(exc, ProblemError) else []
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request, routes)
        return problem(
            exc.status_code,
            _title(exc.status_code),
            str(exc.detail),
            errors=errors,
            headers=headers,
        )

    @app.exception_handler(TransportError)
    async def broker_unavailable(request: Request, exc: TransportError) -> JSONResponse:
        # Nothing was accepted: the client may retry (with its idempotency key).
        return problem(503, "Service Unavailable", f"the broker did not accept it: {exc}")


def _allowed_methods(request: Request, routes: Sequence[BaseRoute]) -> str:
    """The methods of the resource at this path: of every route with the path template
    of the first route that matches it, as Starlette routes (`/assistants/search` is
    not `/assistants/{assistant_id}`). Starlette's own `Allow` names the first
    route's methods only, and `/v1/tasks` has a route per method."""
    path = request.scope["path"]
    paths = [r for r in routes if isinstance(r, Route)]
    template = next((r.path for r in paths if r.path_regex.match(path)), None)
    methods = {m for r in paths if r.path == template for m in r.methods or ()}
    return ", ".join(sorted(methods))


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each a `Problem` body."""
    return {status: _problem_response(status) for status in statuses}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": _title(status),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _title(status: int) -> str:
    if status == 422:
        return "Invalid request"  # what the client can act on, for every 422 alike
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
