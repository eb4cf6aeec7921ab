"""Reading `MESH_GATEWAY_API_KEYS` and `MESH_GATEWAY_JWKS` at start-up.

A mistake in either stops the gateway from starting, with the entry and what to change:
a gateway that started with half its keys would refuse callers for no reason they can see.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from mesh.errors import SettingsError
from mesh.gateway.auth.principal import Principal, Scope

# Asymmetric only: a shared-secret (HS*) key in the set would let anyone who reads the
# set mint tokens, and "none" is never a signature.
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


@dataclass(frozen=True, slots=True)
class ApiKey:
    digest: bytes  # SHA-256 of the key: the settings never hold the key itself
    principal: Principal

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self.digest)


def scopes_of(raw: Any, where: str) -> frozenset[Scope]:
    names = raw.split() if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise SettingsError(f"{where}: scopes must be a non-empty list of {_SCOPE_NAMES}")
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError:
        raise SettingsError(f"{where}: unknown scope in {names!r}; use {_SCOPE_NAMES}") from None


def tenant_of(raw: Any, scopes: frozenset[Scope], where: str) -> str | None:
    if raw is None and Scope.ADMIN in scopes:
        return None  # an admin of every tenant
    if not isinstance(raw, str) or not raw:
        raise SettingsError(f"{where}: needs a tenant (only an admin may have none)")
    return raw


def read_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """`[{"name": "ci", "key_sha256": "<64 hex>", "tenant": "acme", "scopes": ["submit"]}]`"""
    if not raw.strip():
        return ()
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"MESH_GATEWAY_API_KEYS is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise SettingsError("MESH_GATEWAY_API_KEYS must be a JSON list of keys")
    keys = []
    for n, entry in enumerate(entries):
        where = f"MESH_GATEWAY_API_KEYS[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SettingsError(f'{where}: needs a "name"')
        try:
            digest = bytes.fromhex(entry.get("key_sha256", ""))
        except (TypeError, ValueError):
            digest = b""
        if len(digest) != 32:
            raise SettingsError(
                f"{where} ({entry['name']}): key_sha256 must be the key's SHA-256 in hex "
                '(printf %s "$KEY" | sha256sum)'
            )
        scopes = scopes_of(entry.get("scopes"), where)
        principal = Principal(entry["name"], tenant_of(entry.get("tenant"), scopes, where), scopes)
        keys.append(ApiKey(digest, principal))
    return tuple(keys)


def read_key_set(path: str | None) -> jwt.PyJWKSet | None:
    """The JSON Web Key Set at `path` (`{"keys": [...]}`), public keys only."""
    if path is None:
        return None
    try:
        document = json.loads(Path(path).read_text())
        key_set = jwt.PyJWKSet.from_dict(document)
    except (OSError, json.JSONDecodeError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
        reason = f"MESH_GATEWAY_JWKS={path}: cannot read a JSON Web Key Set: {exc}"
        raise SettingsError(reason) from None
    for key in key_set.keys:
        if key.key_type == "oct" or (key.algorithm_name not in (*JWT_ALGORITHMS, "")):
            raise SettingsError(
                f"MESH_GATEWAY_JWKS={path}: key {key.key_id!r} is {key.algorithm_name or 'oct'};"
                f" use an asymmetric key ({', '.join(JWT_ALGORITHMS)})"
            )
    return key_set


_SCOPE_NAMES = ", ".join(s.value for s in Scope)
