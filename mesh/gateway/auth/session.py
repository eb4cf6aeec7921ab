"""Console sessions (ADR 047): a signed cookie standing for a verified key or token.

A browser's `EventSource` sends no header, so the console signs in once
(`POST /v1/console/session` with an API key or a JWT, verified by the `Authenticator`)
and gets a cookie that every request, the event streams included, then carries. The
cookie is not the key: it is `<payload>.<signature>`, the payload (base64url JSON) the
principal's name, tenant, scopes and expiry, the signature an HMAC-SHA256 of it under
`MESH_GATEWAY_SESSION_SECRET` (or a secret made at start-up, good for this process
only). A session made from an API key also holds a fingerprint of that key's digest:
the key's current entry gives the principal, so a key removed or rotated ends its
sessions, and a change of its scopes applies at once.

The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page
sends it) and `Secure` when the request came over https. A state-changing request that
a cookie authenticates must also carry `X-Mesh-Console` (CSRF: a cross-site form cannot
send a custom header, and a cross-site script that tries needs a CORS preflight, which
the gateway does not grant).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass

from mesh.errors import SettingsError
from mesh.gateway.auth.principal import Principal, Scope
from mesh.settings import Settings

log = logging.getLogger(__name__)

COOKIE = "mesh_session"
CSRF_HEADER = "x-mesh-console"  # the console sends it with every request
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SECRET_MIN = 32  # characters of MESH_GATEWAY_SESSION_SECRET


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    expires_at: float  # epoch seconds
    key: str | None  # the fingerprint of the API key it came from; None: from a token


def key_fingerprint(digest: bytes) -> str:
    """What a session keeps of its API key: a hash of the key's SHA-256 (which the
    settings hold anyway), enough to tell a rotated key from the one signed in with."""
    return hashlib.sha256(b"mesh-session-key:" + digest).hexdigest()[:32]


class SessionSigner:
    def __init__(self, settings: Settings) -> None:
        self.ttl = settings.gateway_session_ttl
        secret = settings.gateway_session_secret.get_secret_value()
        if secret and len(secret) < _SECRET_MIN:
            raise SettingsError(
                f"MESH_GATEWAY_SESSION_SECRET has {len(secret)} characters; use at least "
                f"{_SECRET_MIN} (e.g. `openssl rand -hex 32`)"
            )
        if not secret and settings.gateway_auth == "on":
            log.warning(
                "MESH_GATEWAY_SESSION_SECRET is not set: console sessions are signed with a "
                "secret made now, good at this gateway process only (set one shared secret "
                "for every replica, or sessions end at a restart and at other replicas)"
            )
        self._secret = secret.encode() if secret else secrets.token_bytes(32)

    def sign(self, session: Session) -> str:
        body = {
            "sub": session.principal.name,
            "tenant": session.principal.tenant,
            "scopes": sorted(s.value for s in session.principal.scopes),
            "exp": round(session.expires_at, 3),
            "key": session.key,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._signature(payload)}"

    def verify(self, cookie: str) -> Session:
        """The session the cookie stands for. Raises ValueError saying why it does not."""
        payload, _, signature = cookie.partition(".")
        # As bytes: compare_digest refuses str with non-ASCII characters (a forged cookie).
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            raise ValueError("session cookie not signed by this gateway (sign in again)")
        try:
            body = json.loads(_unb64(payload))
            principal = Principal(
                str(body["sub"]), body["tenant"], frozenset(Scope(s) for s in body["scopes"])
            )
            session = Session(principal, float(body["exp"]), body["key"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ValueError("unreadable session cookie (sign in again)") from None
        if session.expires_at <= time.time():
            raise ValueError("session expired (sign in again)")
        return session

    def _signature(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
