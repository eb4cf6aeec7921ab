"""`Authenticator`: a request's credentials to a `Principal`; `require`: the routes' guard.

401 (with `WWW-Authenticate`) when no valid credential came, 403 when it lacks the
scope. Both name the `Authorization` header as the field, and say why; the key or
token itself never appears in an answer or a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt
from starlette.requests import HTTPConnection, Request

from mesh.errors import SettingsError
from mesh.gateway._problems import ProblemError
from mesh.gateway.auth.credentials import (
    ApiKey,
    read_api_keys,
    read_key_set,
    scopes_of,
    tenant_of,
)
from mesh.gateway.auth.expiry import credential_expires
from mesh.gateway.auth.principal import ANONYMOUS, Principal, Scope
from mesh.gateway.auth.session import (
    COOKIE,
    CSRF_HEADER,
    SAFE_METHODS,
    Session,
    SessionSigner,
    key_fingerprint,
)
from mesh.settings import Settings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agentmesh"'}
_LEEWAY = 30  # s of clock skew allowed on exp/nbf between the issuer and the gateway


@dataclass(frozen=True, slots=True)
class Verified:
    """A credential that checked out: whose, until when (a JWT's `exp`), and which API
    key (its fingerprint, for a console session made from it)."""

    principal: Principal
    expires_at: float | None = None
    key: str | None = None


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.gateway_auth == "on"
        self._keys: tuple[ApiKey, ...] = read_api_keys(settings.gateway_api_keys.get_secret_value())
        self._key_set = read_key_set(settings.gateway_jwks)
        self._issuer = settings.gateway_jwt_issuer
        self._audience = settings.gateway_jwt_audience
        self.sessions = SessionSigner(settings)

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a request with a key or token in `headers`; else 401."""
        return self._verified(headers).principal

    def _verified(self, headers: Mapping[str, str]) -> Verified:
        if not self.enabled:
            return Verified(ANONYMOUS)
        presented = headers.get("x-api-key") or _bearer(headers.get("authorization", ""))
        if not presented:
            raise _unauthorized("no credential: send X-Api-Key or Authorization: Bearer")
        return self.verify(presented)

    def authenticate_connection(self, connection: HTTPConnection) -> Principal:
        """`authenticate`, or else by the console's session cookie (ADR 047), which
        changes nothing without the `X-Mesh-Console` header (CSRF)."""
        headers = connection.headers
        cookie = connection.cookies.get(COOKIE)
        if not self.enabled or cookie is None or _presents_credential(headers):
            verified = self._verified(headers)  # a key or token sent wins over the cookie
            if verified.expires_at is not None:  # a token is taken until exp + leeway
                credential_expires(connection.scope, verified.expires_at + _LEEWAY)
            return verified.principal
        principal, expires_at = self.from_session(cookie)
        if connection.scope.get("method", "GET") not in SAFE_METHODS and CSRF_HEADER not in headers:
            reason = "a request signed in by the console's cookie must send X-Mesh-Console: 1"
            raise ProblemError(403, "header.x-mesh-console", reason)
        credential_expires(connection.scope, expires_at)
        return principal

    def verify(self, presented: str) -> Verified:
        """The key or JWT `presented`, checked; else 401."""
        if presented.count(".") == 2 and self._key_set is not None:
            return self._from_token(presented)
        for key in self._keys:
            if key.matches(presented):
                return Verified(key.principal, key=key_fingerprint(key.digest))
        raise _unauthorized("unknown API key")

    def from_session(self, cookie: str) -> tuple[Principal, float]:
        """The caller a session cookie stands for, and the session's end; 401 naming the
        cookie if none."""
        try:
            session = self.sessions.verify(cookie)
        except ValueError as exc:
            raise _unauthorized(str(exc), field=f"cookie.{COOKIE}") from None
        if session.key is None:
            return session.principal, session.expires_at
        for key in self._keys:  # the key's entry now: removed or rotated ends the session
            if key_fingerprint(key.digest) == session.key:
                return key.principal, session.expires_at
        reason = "the API key this session was signed in with is no longer accepted"
        raise _unauthorized(reason, field=f"cookie.{COOKIE}")

    def start_session(self, verified: Verified) -> Session:
        """A session for a verified credential: for the TTL, never past a JWT's expiry."""
        expires_at = time.time() + self.sessions.ttl
        if verified.expires_at is not None:
            expires_at = min(expires_at, verified.expires_at)
        return Session(verified.principal, round(expires_at, 3), verified.key)

    def _from_token(self, token: str) -> Verified:
        assert self._key_set is not None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._key_set[kid] if kid else _only(self._key_set)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[key.algorithm_name],  # the key's own: no algorithm swap
                audience=self._audience,
                issuer=self._issuer,
                leeway=_LEEWAY,
                options={"require": ["exp", "sub"]},
            )
        except (jwt.PyJWTError, KeyError) as exc:
            raise _unauthorized(f"invalid token: {exc}") from None
        where = f"token of {claims['sub']!r}"
        try:
            scopes = scopes_of(claims.get("scope", claims.get("scopes")), where)
            tenant = tenant_of(claims.get("tenant"), scopes, where)
        except SettingsError as exc:  # here the token, not a setting, is at fault
            raise _unauthorized(str(exc)) from None
        return Verified(Principal(str(claims["sub"]), tenant, scopes), float(claims["exp"]))


def require(scope: Scope) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller, if it may use `scope`; else 401 or 403."""

    def caller(connection: HTTPConnection) -> Principal:
        principal = authenticated(connection)
        insist(principal, scope)
        return principal

    return caller


def _presents_credential(headers: Mapping[str, str]) -> bool:
    return "x-api-key" in headers or bool(_bearer(headers.get("authorization", "")))


def _bearer(value: str) -> str:
    scheme, _, credential = value.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _only(key_set: jwt.PyJWKSet) -> jwt.PyJWK:
    if len(key_set.keys) != 1:
        raise KeyError("the token names no key (kid) and the key set has several")
    return key_set.keys[0]


def _unauthorized(reason: str, *, field: str = "header.authorization") -> ProblemError:
    return ProblemError(401, field, reason, headers=_CHALLENGE)


_READS_BY_POST = ("/search", "/history")


def scope_of_request(method: str, path: str) -> Scope:
    """The scope an API without per-route guards (the LangGraph API) asks of a request:
    reads (GET, and the searches and history that LangGraph's SDK POSTs) `read`; cancel
    and DELETE `operate`; the rest (threads and runs made) `submit`."""
    if method in ("GET", "HEAD") or path.endswith(_READS_BY_POST):
        return Scope.READ
    if method == "DELETE" or path.endswith("/cancel"):
        return Scope.OPERATE
    return Scope.SUBMIT


def authenticated(connection: HTTPConnection) -> Principal:
    """A FastAPI dependency: the caller, whatever its scopes (401 without a valid
    credential); for a route that asks its scope once it knows the operation (A2A's
    JSON-RPC method)."""
    authenticator: Authenticator = connection.app.state.authenticator
    return authenticator.authenticate_connection(connection)


def insist(caller: Principal, scope: Scope) -> None:
    """403 unless `caller` may use `scope`."""
    if not caller.may(scope):
        reason = f"{caller.name!r} lacks the {scope.value!r} scope"
        raise ProblemError(403, "header.authorization", reason)


def caller_by_method(request: Request) -> Principal:
    """A FastAPI dependency for a whole router: `require` with `scope_of_request`."""
    return require(scope_of_request(request.method, request.url.path))(request)
