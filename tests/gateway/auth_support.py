"""Helpers of the tests of a gateway with auth on (ADR 043, 046): API keys of two
tenants and an admin, an identity provider signing real RS256 tokens, real HTTP clients
sending them."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.gateway.conftest import GatewayServer

KEYS = {  # key -> (name, tenant, scopes)
    "acme-key": ("acme-app", "acme", ["submit", "read", "operate"]),
    "acme-reader": ("acme-dashboard", "acme", ["read"]),
    "globex-key": ("globex-app", "globex", ["submit", "read", "operate"]),
    "root-key": ("ops", None, ["admin"]),
}
ISSUER, AUDIENCE = "https://id.example.test", "agentmesh"


def api_keys() -> str:
    entries = [
        {"name": name, "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
        | ({"tenant": tenant} if tenant else {})
        for key, (name, tenant, scopes) in KEYS.items()
    ]
    return json.dumps(entries)


class Issuer:
    """An identity provider: an RSA key in a JWKS file, and tokens it signs."""

    def __init__(self, directory: Path, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = directory / f"{kid}.json"
        self.jwks.write_text(json.dumps({"keys": [public | {"kid": kid, "alg": "RS256"}]}))

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "someone", "iat": now, "exp": now + 300}
        return jwt.encode(base | claims, self.private, algorithm="RS256", headers={"kid": self.kid})


class Callers:
    """Real HTTP clients of one gateway, each with a credential; closed together."""

    def __init__(self, server: GatewayServer) -> None:
        self._server = server
        self._open: list[httpx.Client] = []

    def __call__(self, key: str | None = None, token: str | None = None) -> httpx.Client:
        """A client sending `key` (X-Api-Key) or `token` (Authorization: Bearer)."""
        headers = {"X-Api-Key": key} if key else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._open.append(httpx.Client(base_url=self._server.url, headers=headers, timeout=30))
        return self._open[-1]

    def close(self) -> None:
        while self._open:
            self._open.pop().close()


def submit(http: httpx.Client, agent: str = "echo", **input: Any) -> str:
    answer = http.post("/v1/tasks", json={"agent": agent, "input": {"text": "hi", **input}})
    assert answer.status_code == 202, answer.text
    task_id: str = answer.json()["task_id"]
    return task_id


def eventually_sync(predicate: Callable[[], bool], *, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def field_of(answer: httpx.Response) -> str:
    field: str = answer.json()["errors"][0]["field"]
    return field
