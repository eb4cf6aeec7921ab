"""`/v1/console/session`: the console's sign-in, who is signed in, and sign-out (ADR 047).

The console posts the API key or JWT a person pastes; the gateway verifies it with the
same `Authenticator` as every API and answers with a session cookie (mesh/gateway/auth/
session.py), which the browser then sends with each request and event stream. Each call
here wants the `X-Mesh-Console` header, as a cookie-authenticated change does: a
cross-site form can neither sign a browser in (as someone else) nor out.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from mesh.gateway._json_body import JsonBodyRoute
from mesh.gateway._problems import ProblemError, problem_responses
from mesh.gateway.auth import ANONYMOUS, Authenticator, Principal
from mesh.gateway.auth.session import COOKIE

router = APIRouter(prefix="/v1/console", tags=["console"], route_class=JsonBodyRoute)

ConsoleHeader = Annotated[
    str,
    Header(
        alias="x-mesh-console",
        max_length=100,
        description="Any value (the console sends `1`): a cross-site form cannot send it.",
    ),
]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential: str = Field(
        min_length=1, max_length=16_384, description="An API key, or a JWT (without `Bearer`)."
    )


class SignedIn(BaseModel):
    auth: bool = Field(description="Whether the gateway authenticates callers at all.")
    name: str | None = Field(description="The key's name or the token's subject; null: none.")
    tenant: str | None = Field(description="null: every tenant's (an admin, or auth off).")
    scopes: list[str]
    expires_at: float | None = Field(description="Epoch seconds the session ends; null: none.")


def _authenticator(connection: HTTPConnection) -> Authenticator:
    authenticator: Authenticator = connection.app.state.authenticator
    return authenticator


def _document(principal: Principal | None, auth: bool, expires_at: float | None) -> SignedIn:
    return SignedIn(
        auth=auth,
        name=principal.name if principal else None,
        tenant=principal.tenant if principal else None,
        scopes=sorted(s.value for s in principal.scopes) if principal else [],
        expires_at=expires_at,
    )


@router.post("/session", response_model=SignedIn, responses=problem_responses(401, 409))
async def sign_in(
    body: SignIn, request: Request, response: Response, console: ConsoleHeader
) -> SignedIn:
    """Verify an API key or JWT and set the session cookie (`HttpOnly`, `SameSite=Strict`,
    `Secure` over https) for `MESH_GATEWAY_SESSION_TTL`, never past the JWT's expiry.
    401 naming `body.credential` for one the gateway does not accept; 409 with auth off."""
    authenticator = _authenticator(request)
    if not authenticator.enabled:
        raise ProblemError(409, "body.credential", "auth is off: the console needs no sign-in")
    try:
        verified = authenticator.verify(_without_scheme(body.credential))
    except ProblemError as exc:
        raise ProblemError(401, "body.credential", exc.errors[0].reason) from None
    session = authenticator.start_session(verified)
    response.set_cookie(
        COOKIE,
        authenticator.sessions.sign(session),
        max_age=max(1, int(session.expires_at - time.time())),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return _document(session.principal, True, session.expires_at)


@router.get("/session", response_model=SignedIn)
async def signed_in(request: Request) -> SignedIn:
    """Who the console is signed in as (`name` null: no one, or the cookie is no longer
    good); with auth off, `auth` false and every scope."""
    authenticator = _authenticator(request)
    if not authenticator.enabled:
        return _document(ANONYMOUS, False, None)
    cookie = request.cookies.get(COOKIE)
    if cookie is None:
        return _document(None, True, None)
    try:
        principal, expires_at = authenticator.from_session(cookie)
    except ProblemError:
        return _document(None, True, None)
    return _document(principal, True, expires_at)


@router.delete("/session", status_code=204, response_class=Response)
async def sign_out(request: Request, console: ConsoleHeader) -> Response:
    """Clear the session cookie (the browser forgets it)."""
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response


def _without_scheme(credential: str) -> str:
    """The credential as pasted, without a `Bearer ` copied along with a token."""
    scheme, _, rest = credential.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else credential.strip()
