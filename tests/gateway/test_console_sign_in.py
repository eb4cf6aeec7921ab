"""The console with authentication on (ADR 047), in a real headless Chromium: it asks
to sign in, refuses a wrong key, shows the signed-in tenant's tasks only and follows
them live over SSE with the session cookie, and signs out; the schedules page pauses
and resumes a schedule, and the agents page shows and flips an agent type's pause
switch. With a real HTTP client: the cookie's attributes, a session never outliving
its JWT, and a cookie-authenticated change (native or LangGraph API) refused without
the console's header (CSRF).

A real gateway on a socket over the in-memory transport (the broker adds nothing
here; tests/gateway/test_console.py runs the console on it), real HTTP clients, real
RS256 signatures. Every wait is on a condition.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.sync_api import Browser, BrowserContext, Page, expect

from mesh.client import Client
from mesh.schedules import operate
from mesh.settings import load_settings
from mesh.testing import MemoryTransport
from mesh.transport.base import Transport
from tests.gateway.agents import echo, slow
from tests.gateway.browser_support import WAIT_MS, chromium
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import submit, wait_status

KEYS = {  # key -> (name, tenant, scopes)
    "acme-secret": ("acme-app", "acme", ["submit", "read", "operate"]),
    "globex-secret": ("globex-app", "globex", ["submit", "read", "operate"]),
    "root-secret": ("ops", None, ["admin"]),
}
TTL = 3600.0


def api_keys() -> str:
    return json.dumps(
        [
            {"name": name, "key_sha256": hashlib.sha256(key.encode()).hexdigest(), "scopes": scopes}
            | ({"tenant": tenant} if tenant else {})
            for key, (name, tenant, scopes) in KEYS.items()
        ]
    )


class Issuer:
    """An identity provider: an RSA key in a JWKS file, and the tokens it signs."""

    def __init__(self, directory: Path) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = directory / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [public | {"kid": "k1", "alg": "RS256"}]}))

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        claims = {"sub": "ada", "iat": now, "exp": now + 300} | claims
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(tmp_path_factory.mktemp("jwks"))


@pytest.fixture(scope="module")
def server(issuer: Issuer) -> Iterator[GatewayServer]:
    settings = load_settings(
        profile="test",
        namespace=f"t{uuid.uuid4().hex[:10]}",
        gateway_auth="on",
        gateway_api_keys=api_keys(),
        gateway_jwks=str(issuer.jwks),
        gateway_session_ttl=TTL,
    )
    server = GatewayServer(settings, [echo, slow], shared_transport=MemoryTransport)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture(scope="module")
def context(browser: Browser, server: GatewayServer) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1200, "height": 640})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page signed in as no one (the module's browser context, its cookies cleared);
    no script on it may fail."""
    context.clear_cookies()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert errors == [], errors
    finally:
        page.close()


_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def as_(server: GatewayServer, key: str | None = None, **headers: str) -> httpx.Client:
    """A real HTTP client, sending `key` as X-Api-Key when given."""
    sent = {"X-Api-Key": key} if key else {}
    _OPEN.append(httpx.Client(base_url=server.url, headers=sent | headers, timeout=20))
    return _OPEN[-1]


def sign_in(page: Page, key: str, route: str = "#/tasks") -> None:
    page.goto(f"/console{route}")
    page.locator("input[name=credential]").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who [data-who]")).to_contain_text(KEYS[key][0])


def field_of(answer: httpx.Response) -> str:
    field: str = answer.json()["errors"][0]["field"]
    return field


def eventually(predicate: Callable[[], Any], *, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)
    return found


def test_the_console_asks_to_sign_in_and_refuses_a_wrong_key(page: Page) -> None:
    page.goto("/console#/tasks")
    form = page.locator("form.signin")
    expect(form).to_be_visible()
    expect(page.locator("header nav")).to_be_hidden()
    page.locator("input[name=credential]").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(form.locator(".error")).to_contain_text("unknown API key")
    expect(form.locator(".error")).to_contain_text("body.credential")
    assert page.context.cookies() == []

    sign_in(page, "acme-secret")
    expect(page.locator("#live")).to_have_text("live")
    page.context.clear_cookies()  # as when the session ends: the next call is a 401
    page.evaluate("location.hash = '#/agents'")
    expect(form).to_be_visible()


def test_a_tenant_signed_in_sees_its_own_tasks_live_then_signs_out(
    page: Page, server: GatewayServer
) -> None:
    acme, globex = as_(server, "acme-secret"), as_(server, "globex-secret")
    mine, theirs = submit(acme, "echo", {"text": "acme's"}), submit(globex, "echo", {"text": "x"})
    wait_status(acme, mine, "succeeded")
    wait_status(globex, theirs, "succeeded")

    sign_in(page, "acme-secret")
    expect(page.locator(f'tr[data-task="{mine}"] [data-status]')).to_have_text("succeeded")
    expect(page.locator(f'tr[data-task="{theirs}"]')).to_have_count(0)
    [cookie] = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"]) == ("mesh_session", True)
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/" and cookie["secure"] is False  # plain http here
    assert time.time() < cookie["expires"] <= time.time() + TTL + 1
    expect(page.locator("#live")).to_have_text("live")  # the stream came, with the cookie
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    other = submit(globex, "echo", {"text": "not for acme"})  # changes before `later`'s
    later = submit(acme, "slow", {"text": "live", "seconds": 0.5})
    status = page.locator(f'tr[data-task="{later}"] [data-status]')
    expect(status).to_have_text("succeeded")  # it came without a reload, over SSE
    expect(page.locator(f'tr[data-task="{other}"]')).to_have_count(0)
    assert page.evaluate("window.sameDocument") is True

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("form.signin")).to_be_visible()
    assert page.context.cookies() == []
    assert page.request.get("/v1/tasks").status == 401


def test_a_cookie_changes_nothing_without_the_console_header(
    server: GatewayServer, issuer: Issuer
) -> None:
    anyone = as_(server)
    body = {"credential": "acme-secret"}
    missing = anyone.post("/v1/console/session", json=body)
    assert missing.status_code == 422 and field_of(missing) == "header.x-mesh-console"
    console = {"X-Mesh-Console": "1"}
    for credential, status in (("", 422), ("not-a-key", 401), ("a.b.c", 401)):
        refused = anyone.post(
            "/v1/console/session", json={"credential": credential}, headers=console
        )
        assert refused.status_code == status and field_of(refused) == "body.credential"

    signed = anyone.post("/v1/console/session", json=body, headers=console)
    assert signed.status_code == 200 and signed.json()["tenant"] == "acme"
    raw = signed.headers["set-cookie"]
    assert "HttpOnly" in raw and "SameSite=strict" in raw and "Secure" not in raw
    session = SimpleCookie(raw)["mesh_session"].value
    assert "acme-secret" not in session  # signed claims, not the key
    browser_like = as_(server, Cookie=f"mesh_session={session}")
    task_id = submit(as_(server, "acme-secret"), "slow", {"text": "long", "seconds": 30})
    listed = browser_like.get("/v1/tasks").json()["tasks"]
    assert task_id in {task["task_id"] for task in listed}
    with browser_like.stream("GET", "/v1/task-updates") as stream:  # SSE by the cookie alone
        assert stream.status_code == 200
        assert next(stream.iter_lines()) == "retry: 1000"

    for path in (f"/v1/tasks/{task_id}/cancel", "/v1/tasks"):  # a cross-site form's POSTs
        forged = browser_like.post(path, json={"agent": "echo", "input": {}})
        assert forged.status_code == 403 and field_of(forged) == "header.x-mesh-console"
    forged_thread = browser_like.post("/threads", json={})  # the LangGraph API: the same guard
    assert forged_thread.status_code == 403 and field_of(forged_thread) == "header.x-mesh-console"
    thread = browser_like.post("/threads", json={}, headers=console)
    assert thread.status_code == 200
    assert browser_like.get(f"/threads/{thread.json()['thread_id']}").status_code == 200
    assert browser_like.get(f"/v1/tasks/{task_id}").json()["status"] == "running"
    cancelled = browser_like.post(f"/v1/tasks/{task_id}/cancel", json={}, headers=console)
    assert cancelled.status_code == 202

    tampered = as_(server, Cookie=f"mesh_session={session[:-2]}xx")
    assert tampered.get("/v1/tasks").status_code == 401
    assert field_of(tampered.get("/v1/tasks")) == "cookie.mesh_session"
    exp = int(time.time()) + 120
    token = issuer.token(tenant="acme", scope="read", exp=exp)
    pasted = {"credential": f"Bearer {token}"}  # as copied from a header: taken too
    by_token = anyone.post("/v1/console/session", json=pasted, headers=console)
    assert by_token.status_code == 200 and by_token.json()["expires_at"] <= exp  # not the TTL
    assert anyone.delete("/v1/console/session", headers=console).status_code == 204


def add_schedule(server: GatewayServer, name: str) -> None:
    """`mesh schedule add` (its code, on a client of the gateway's transport)."""

    async def add(transport: Transport) -> None:
        async with Client(transport, server.settings, name="test") as client:
            await operate.add(
                client,
                name,
                cron="0 3 * * *",
                tz="Europe/Paris",
                agent="echo",
                input={"text": "nightly"},
                overlap="skip",
                jitter=0.0,
            )

    server.call(add)


def test_schedules_are_listed_and_paused_in_the_console(page: Page, server: GatewayServer) -> None:
    add_schedule(server, "nightly-report")
    acme, root = as_(server, "acme-secret"), as_(server, "root-secret")
    assert acme.get("/v1/schedules").json() == {"schedules": []}  # they belong to no tenant
    hidden = acme.post("/v1/schedules/nightly-report/pause")
    assert hidden.status_code == 404 and field_of(hidden) == "name"
    unknown = root.post("/v1/schedules/no-such/pause")
    assert unknown.status_code == 404 and field_of(unknown) == "name"

    sign_in(page, "root-secret", "#/schedules")
    row = page.locator('tr[data-schedule="nightly-report"]')
    for shown in ("0 3 * * *", "Europe/Paris", "echo", "skip"):
        expect(row).to_contain_text(shown)
    expect(row.locator("[data-state]")).to_have_text("active")
    expect(row.locator("td.next")).not_to_have_text("-")
    row.get_by_role("button", name="Pause").click()
    expect(row.locator("[data-state]")).to_have_text("paused")
    expect(row.locator("td.next")).to_have_text("-")
    [listed] = root.get("/v1/schedules").json()["schedules"]
    assert (listed["name"], listed["paused"], listed["next_fire"]) == ("nightly-report", True, None)
    row.get_by_role("button", name="Resume").click()
    expect(row.locator("[data-state]")).to_have_text("active")


def test_a_paused_agent_type_is_shown_and_resumed_on_the_agents_page(
    page: Page, server: GatewayServer
) -> None:
    acme = as_(server, "acme-secret")
    refused = acme.post("/v1/agents/slow/pause", json={"reason": "mine"})
    assert refused.status_code == 403  # it would hold the type for every tenant: admin
    sign_in(page, "root-secret", "#/agents")
    cell = page.locator('tr[data-agent="slow"] [data-paused]')
    expect(cell).to_have_attribute("data-paused", "no")
    cell.get_by_role("button", name="Pause").click()
    expect(cell).to_have_attribute("data-paused", "yes")
    [slow_type] = [a for a in acme.get("/v1/agents").json()["agents"] if a["name"] == "slow"]
    assert slow_type["paused"] is True and slow_type["pause"]["by"] == "ops"

    held = submit(acme, "slow", {"text": "waits", "seconds": 0.2})
    eventually(
        lambda: "paused" in (acme.get(f"/v1/tasks/{held}").json()["held"] or ""),
        what="the task held by the pause",
    )
    cell.get_by_role("button", name="Resume").click()
    expect(cell).to_have_attribute("data-paused", "no")
    wait_status(acme, held, "succeeded")
