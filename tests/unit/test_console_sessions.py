"""Console session cookies (ADR 047): signed, not the key; bound to the key's current
entry; ended by expiry, tampering or another secret; a short secret stops start-up."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from mesh.errors import SettingsError
from mesh.gateway._problems import ProblemError
from mesh.gateway.auth import Authenticator, Scope
from mesh.gateway.auth.session import Session, SessionSigner
from mesh.settings import Settings, load_settings

SECRET = "s" * 32


def settings(scopes: list[str], *, key: bytes = b"the-key", **more: object) -> Settings:
    entry = {"name": "ci", "key_sha256": hashlib.sha256(key).hexdigest(), "tenant": "acme"}
    return load_settings(
        profile="test",
        gateway_auth="on",
        gateway_api_keys=json.dumps([entry | {"scopes": scopes}]),
        **({"gateway_session_secret": SECRET} | more),
    )


def cookie_of(authenticator: Authenticator, credential: str) -> str:
    session = authenticator.start_session(authenticator.verify(credential))
    return authenticator.sessions.sign(session)


def test_a_session_stands_for_its_key_and_follows_its_entry() -> None:
    before = Authenticator(settings(["read"]))
    cookie = cookie_of(before, "the-key")
    assert "the-key" not in cookie
    assert before.from_session(cookie)[0].scopes == {Scope.READ}
    widened = Authenticator(settings(["read", "operate"]))  # another replica, a new entry
    assert widened.from_session(cookie)[0].scopes == {Scope.READ, Scope.OPERATE}
    rotated = Authenticator(settings(["read"], key=b"a-new-key"))  # the same name
    with pytest.raises(ProblemError, match="no longer accepted"):
        rotated.from_session(cookie)


@pytest.mark.parametrize(
    ("forge", "says"),
    [
        (lambda c: c[:-3] + "AAA", "not signed"),
        (lambda c: "e30." + c.split(".")[1], "not signed"),  # `{}` with a signature
        (lambda c: c + "é", "not signed"),  # non-ASCII: refused, not a TypeError
        (lambda c: "garbage", "not signed"),
    ],
)
def test_a_forged_cookie_is_refused(forge: object, says: str) -> None:
    authenticator = Authenticator(settings(["read"]))
    cookie = cookie_of(authenticator, "the-key")
    with pytest.raises(ProblemError, match=says) as refused:
        authenticator.from_session(forge(cookie))  # type: ignore[operator]
    assert refused.value.status_code == 401
    assert refused.value.errors[0].field == "cookie.mesh_session"


def test_another_secret_or_an_ended_session_is_refused() -> None:
    authenticator = Authenticator(settings(["read"]))
    cookie = cookie_of(authenticator, "the-key")
    other = SessionSigner(settings(["read"], gateway_session_secret="t" * 32))
    with pytest.raises(ValueError, match="not signed"):
        other.verify(cookie)
    principal = authenticator.verify("the-key").principal
    ended = authenticator.sessions.sign(Session(principal, time.time() - 1, None))
    with pytest.raises(ValueError, match="expired"):
        authenticator.sessions.verify(ended)


def test_a_short_secret_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        Authenticator(settings(["read"], gateway_session_secret="short"))
