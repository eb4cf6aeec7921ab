"""Gateway auth settings (ADR 043): every mistake stops start-up and says what to change."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mesh.errors import SettingsError
from mesh.gateway.auth import ANONYMOUS, Authenticator, Scope
from mesh.gateway.auth.credentials import read_api_keys, read_key_set
from mesh.gateway.auth.verify import scope_of_request
from mesh.settings import load_settings

DIGEST = hashlib.sha256(b"k").hexdigest()


def key(**entry: object) -> str:
    return json.dumps([{"name": "ci", "key_sha256": DIGEST, "tenant": "acme"} | entry])


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("[", "is not JSON"),
        ('{"name": "ci"}', "a JSON list"),
        ('[{"key_sha256": "00"}]', 'needs a "name"'),
        (key(key_sha256="abc"), "SHA-256 in hex"),
        (key(scopes=["submit", "root"]), "unknown scope"),
        (key(scopes=[]), "non-empty list"),
        (key(scopes=["read"], tenant=None), "needs a tenant"),
    ],
)
def test_a_bad_api_key_entry_names_itself(raw: str, says: str) -> None:
    with pytest.raises(SettingsError, match=says):
        read_api_keys(raw)


def test_an_admin_may_have_no_tenant_and_sees_every_one() -> None:
    (admin,) = read_api_keys(key(scopes=["admin"], tenant=None))
    assert admin.matches("k") and not admin.matches("K")
    assert admin.principal.tenant is None and admin.principal.may(Scope.OPERATE)
    assert admin.principal.sees("acme") and admin.principal.sees(None)


def test_auth_on_needs_keys_or_a_key_set() -> None:
    with pytest.raises(SettingsError, match="MESH_GATEWAY_API_KEYS or MESH_GATEWAY_JWKS"):
        load_settings(gateway_auth="on")


def test_a_key_set_must_be_readable_and_asymmetric(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        read_key_set(str(tmp_path / "missing.json"))
    shared = tmp_path / "hs.json"
    shared.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}))
    with pytest.raises(SettingsError, match="asymmetric"):
        read_key_set(str(shared))


def test_auth_off_lets_everyone_in_as_anonymous() -> None:
    authenticator = Authenticator(load_settings())
    assert authenticator.authenticate({}) is ANONYMOUS


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/threads/t1", Scope.READ),
        ("POST", "/threads/search", Scope.READ),
        ("POST", "/threads/t1/history", Scope.READ),
        ("POST", "/threads/t1/runs/r1/cancel", Scope.OPERATE),
        ("DELETE", "/threads/t1", Scope.OPERATE),
        ("POST", "/threads/t1/runs", Scope.SUBMIT),
        ("PATCH", "/threads/t1", Scope.SUBMIT),
    ],
)
def test_langgraph_requests_ask_for_the_scope_their_method_needs(
    method: str, path: str, scope: Scope
) -> None:
    assert scope_of_request(method, path) is scope
