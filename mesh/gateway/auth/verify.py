"""`Authenticator`: a request's credentials to a `Principal`; `require`: the routes' guard.

401 (with `WWW-Authenticate`) when no valid credential came, 403 when it lacks the
scope. Both name the `Authorization` header as the field, and say why; the key or
token itself never appears in an answer or a log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
from mesh.gateway.auth.principal import ANONYMOUS, Principal, Scope
from mesh.settings import Settings

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agentmesh"'}
_LEEWAY = 30  # s of clock skew allowed on exp/nbf between the issuer and the gateway


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.gateway_auth == "on"
        self._keys: tuple[ApiKey, ...] = read_api_keys(settings.gateway_api_keys.get_secret_value())
        self._key_set = read_key_set(settings.gateway_jwks)
        self._issuer = settings.gateway_jwt_issuer
        self._audience = settings.gateway_jwt_audience

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        if not self.enabled:
            return ANONYMOUS
        presented = headers.get("x-api-key") or _bearer(headers.get("authorization", ""))
        if not presented:
            raise _unauthorized("no credential: send X-Api-Key or Authorization: Bearer")
        if presented.count(".") == 2 and self._key_set is not None:
            return self._from_token(presented)
        for key in self._keys:
            if key.matches(presented):
                return key.principal
        raise _unauthorized("unknown API key")

    def _from_token(self, token: str) -> Principal:
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
        return Principal(str(claims["sub"]), tenant, scopes)


def require(scope: Scope) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller, if it may use `scope`; else 401 or 403."""

    def caller(connection: HTTPConnection) -> Principal:
        principal = authenticated(connection)
        insist(principal, scope)
        return principal

    return caller


def _bearer(value: str) -> str:
    scheme, _, credential = value.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _only(key_set: jwt.PyJWKSet) -> jwt.PyJWK:
    if len(key_set.keys) != 1:
        raise KeyError("the token names no key (kid) and the key set has several")
    return key_set.keys[0]


def _unauthorized(reason: str) -> ProblemError:
    return ProblemError(401, "header.authorization", reason, headers=_CHALLENGE)


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
    return authenticator.authenticate(connection.headers)


def insist(caller: Principal, scope: Scope) -> None:
    """403 unless `caller` may use `scope`."""
    if not caller.may(scope):
        reason = f"{caller.name!r} lacks the {scope.value!r} scope"
        raise ProblemError(403, "header.authorization", reason)


def caller_by_method(request: Request) -> Principal:
    """A FastAPI dependency for a whole router: `require` with `scope_of_request`."""
    return require(scope_of_request(request.method, request.url.path))(request)
