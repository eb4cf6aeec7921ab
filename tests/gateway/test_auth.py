"""Authentication and tenants at the gateway (ADR 043): API keys and JWTs, scopes, and
a tenant that sees and touches only its own tasks (another tenant's task is a 404, as
an unknown one), over every native route, the SSE stream, the approvals inbox, and the
LangGraph API through the real langgraph-sdk client.

A real gateway on a socket over the in-memory transport, real HTTP clients, and real
RS256 signatures (keys made per run with `cryptography`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from mesh.settings import load_settings
from mesh.testing import MemoryTransport
from tests.gateway.agents import ask, echo, slow
from tests.gateway.auth_support import (
    AUDIENCE,
    ISSUER,
    Callers,
    Issuer,
    api_keys,
    eventually_sync,
    field_of,
    submit,
)
from tests.gateway.conftest import GatewayServer
from tests.gateway.langgraph_support import clean_client_env  # noqa: F401


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(tmp_path_factory.mktemp("jwks"), "k1")


@pytest.fixture(scope="module")
def server(issuer: Issuer) -> Iterator[GatewayServer]:
    settings = load_settings(
        profile="test",
        namespace=f"t{uuid.uuid4().hex[:10]}",
        gateway_auth="on",
        gateway_api_keys=api_keys(),
        gateway_jwks=str(issuer.jwks),
        gateway_jwt_issuer=ISSUER,
        gateway_jwt_audience=AUDIENCE,
    )
    server = GatewayServer(settings, [echo, slow, ask], shared_transport=MemoryTransport)
    server.start()
    try:
        yield server
    finally:
        server.stop()


_CALLERS: list[Callers] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CALLERS:
        _CALLERS.pop().close()


def as_(server: GatewayServer, key: str | None = None, token: str | None = None) -> httpx.Client:
    """A real HTTP client sending `key` (X-Api-Key) or `token` (Authorization: Bearer)."""
    _CALLERS.append(Callers(server))
    return _CALLERS[-1](key, token)


def test_no_or_a_wrong_credential_is_401_naming_the_header(server: GatewayServer) -> None:
    for http in (as_(server), as_(server, key="not-a-key"), as_(server, token="a.b.c")):
        answer = http.get("/v1/tasks")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert field_of(answer) == "header.authorization"
    # probes and metrics stay open (Kubernetes and Prometheus call them)
    assert as_(server).get("/healthz").status_code == 200


def test_a_key_without_the_scope_is_403_naming_it(server: GatewayServer) -> None:
    answer = as_(server, "acme-reader").post(
        "/v1/tasks", json={"agent": "echo", "input": {"text": "hi"}}
    )
    assert answer.status_code == 403
    assert "'submit'" in answer.json()["errors"][0]["reason"]


def test_a_tenant_sees_and_touches_only_its_own_tasks(server: GatewayServer) -> None:
    acme, globex, root = as_(server, "acme-key"), as_(server, "globex-key"), as_(server, "root-key")
    mine = submit(acme, "slow", seconds=30)
    eventually_sync(lambda: acme.get(f"/v1/tasks/{mine}").status_code == 200, what="the task")
    assert acme.get(f"/v1/tasks/{mine}").json()["tenant"] == "acme"
    unknown = globex.get(f"/v1/tasks/{uuid.uuid4().hex}")
    for answer in (
        globex.get(f"/v1/tasks/{mine}"),
        globex.get(f"/v1/tasks/{mine}/events"),
        globex.post(f"/v1/tasks/{mine}/cancel", json={"reason": "not yours"}),
        globex.post(f"/v1/tasks/{mine}/messages", json={"text": "stop"}),
    ):
        assert answer.status_code == 404, answer.text
        assert field_of(answer) == field_of(unknown) == "task_id"
    theirs = submit(globex)
    listed = {t["task_id"] for t in acme.get("/v1/tasks", params={"limit": 1000}).json()["tasks"]}
    assert mine in listed and theirs not in listed
    everything = root.get("/v1/tasks", params={"limit": 1000}).json()["tasks"]
    assert {mine, theirs} <= {t["task_id"] for t in everything}
    only_acme = root.get("/v1/tasks", params={"limit": 1000, "tenant": "acme"}).json()["tasks"]
    assert mine in {t["task_id"] for t in only_acme}
    assert {t["tenant"] for t in only_acme} == {"acme"}
    assert acme.get("/v1/tasks", params={"tenant": "globex"}).json()["tasks"] == []
    assert acme.post(f"/v1/tasks/{mine}/cancel", json={"reason": "done"}).status_code == 202


def test_the_event_stream_serves_its_tenant(server: GatewayServer) -> None:
    acme = as_(server, "acme-key")
    task_id = submit(acme)
    eventually_sync(lambda: acme.get(f"/v1/tasks/{task_id}").status_code == 200, what="task")
    with acme.stream("GET", f"/v1/tasks/{task_id}/events") as stream:
        assert stream.status_code == 200
        text = "".join(stream.iter_text())
    assert "succeeded" in text


def test_equal_idempotency_keys_of_two_tenants_are_two_tasks(
    server: GatewayServer, issuer: Issuer
) -> None:
    body = {"agent": "echo", "input": {"text": "hi"}, "idempotency_key": "order-7"}
    callers = [
        as_(server, "acme-key"),
        as_(server, token=issuer.token(sub="ada", tenant="acme", scope="submit")),
        as_(server, "globex-key"),
    ]
    ids = [http.post("/v1/tasks", json=body).json()["task_id"] for http in callers]
    assert ids[0] == ids[1]  # a key and a token of one tenant: one task
    assert ids[0] != ids[2]


def test_the_approvals_inbox_shows_its_tenant_only(server: GatewayServer) -> None:
    acme, globex = as_(server, "acme-key"), as_(server, "globex-key")
    task_id = submit(acme, "ask")
    eventually_sync(
        lambda: acme.get(f"/v1/tasks/{task_id}").json().get("status") == "waiting",
        what="the task to wait",
    )
    assert globex.get("/v1/approvals").status_code == 200
    assert all(a["task_id"] != task_id for a in globex.get("/v1/approvals").json()["approvals"])
    decided = globex.post(f"/v1/approvals/{task_id}/approve", json={"by": "mallory"})
    assert decided.status_code == 404


def test_tokens_carry_tenant_and_scopes(
    server: GatewayServer, issuer: Issuer, tmp_path: Path
) -> None:
    acme_token = issuer.token(sub="ada", tenant="acme", scope="submit read")
    task_id = submit(as_(server, token=acme_token))
    eventually_sync(
        lambda: as_(server, "acme-key").get(f"/v1/tasks/{task_id}").status_code == 200,
        what="the task",
    )
    assert as_(server, "globex-key").get(f"/v1/tasks/{task_id}").status_code == 404
    stranger = Issuer(tmp_path, "k1")  # the same key id, another key
    refused = {
        "expired": issuer.token(tenant="acme", scope="read", exp=int(time.time()) - 120),
        "another audience": issuer.token(tenant="acme", scope="read", aud="someone-else"),
        "another issuer": issuer.token(tenant="acme", scope="read", iss="https://evil.test"),
        "another key": stranger.token(tenant="acme", scope="read"),
        "no tenant": issuer.token(scope="read"),
    }
    for why, token in refused.items():
        answer = as_(server, token=token).get("/v1/tasks")
        assert answer.status_code == 401, why


def test_the_langgraph_sdk_authenticates_with_its_api_key(
    server: GatewayServer,
    clean_client_env: None,  # noqa: F811
) -> None:
    with (
        get_sync_client(url=server.url, api_key="acme-key") as client,
        get_sync_client(url=server.url, api_key="not-a-key") as stranger,
        get_sync_client(url=server.url, api_key="acme-reader") as reader,
    ):
        thread = client.threads.create()
        run = client.runs.wait(
            thread["thread_id"], "echo", input={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert "echo: hi" in json.dumps(run)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            stranger.threads.create()
        assert refused.value.response.status_code == 401
        with pytest.raises(httpx.HTTPStatusError) as forbidden:
            reader.threads.create()
        assert forbidden.value.response.status_code == 403
        assert reader.threads.get(thread["thread_id"])["thread_id"] == thread["thread_id"]


def test_an_event_stream_ends_when_its_token_expires(server: GatewayServer, issuer: Issuer) -> None:
    """The stream of a long task is cut when the token that opened it stops being
    accepted (exp plus the 30 s leeway, 12 s after it is made here); the reconnect is then a 401."""
    acme = as_(server, "acme-key")
    task_id = submit(acme, "slow", seconds=60)
    eventually_sync(lambda: acme.get(f"/v1/tasks/{task_id}").status_code == 200, what="task")
    almost = issuer.token(tenant="acme", scope="read", exp=int(time.time()) - 18)
    reader = as_(server, token=almost)
    with reader.stream("GET", f"/v1/tasks/{task_id}/events") as stream:
        assert stream.status_code == 200
        text = "".join(stream.iter_text())  # returns once the gateway ends the stream
    assert "submitted" in text and "succeeded" not in text
    assert acme.get(f"/v1/tasks/{task_id}").json()["status"] in ("submitted", "running")
    eventually_sync(
        lambda: reader.get(f"/v1/tasks/{task_id}/events").status_code == 401,
        what="the expired token's 401",
    )
