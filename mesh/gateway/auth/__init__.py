"""Who may call the gateway, and which tenant's tasks they see (ADR 043).

`MESH_GATEWAY_AUTH=on`: each request carries an API key (`X-Api-Key: <key>`, or
`Authorization: Bearer <key>`) listed in `MESH_GATEWAY_API_KEYS`, or a JWT
(`Authorization: Bearer <jwt>`) signed by a key of the set in `MESH_GATEWAY_JWKS`.
Either names a tenant and scopes (`submit`, `read`, `operate`, `admin`). Routes ask for
a scope with `require(Scope.X)` and get the caller's `Principal`; the tenant decides
what the caller sees (`Principal.sees`). With auth off every caller is `ANONYMOUS`:
every scope, every tenant.
"""

from mesh.gateway.auth.principal import ANONYMOUS, Principal, Scope, decided_by
from mesh.gateway.auth.verify import (
    Authenticator,
    authenticated,
    caller_by_method,
    insist,
    require,
)

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Principal",
    "Scope",
    "authenticated",
    "caller_by_method",
    "decided_by",
    "insist",
    "require",
]
