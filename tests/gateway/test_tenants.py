"""Tenants across the gateway's other faces (ADR 046): LangGraph threads and runs
through the real langgraph-sdk client, A2A tasks through the real a2a-sdk client, the
per-tenant metrics, and an approval's `by` taken from the authenticated caller.

A real gateway with auth on, over the in-memory transport, two tenants' API keys and
RS256 tokens of a third tenant that no setting names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    SendMessageConfiguration,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
)
from a2a.utils.errors import TaskNotFoundError
from langgraph_sdk import get_sync_client

from mesh import Agent, TaskContext
from mesh.gateway.a2a._rpc import METHODS, SCOPES
from mesh.settings import load_settings
from mesh.testing import MemoryTransport
from tests.gateway.a2a_support import a2a_client, message, request, send_for_task
from tests.gateway.agents import Prompt, echo, slow
from tests.gateway.auth_support import (
    AUDIENCE,
    ISSUER,
    Callers,
    Issuer,
    api_keys,
    eventually_sync,
    submit,
)
from tests.gateway.conftest import GatewayServer
from tests.gateway.langgraph_support import clean_client_env  # noqa: F401

gate = Agent("gate", description="Asks a person's approval, then says who gave it.")


@gate.task
async def ask_approval(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    approval = await ctx.request_approval(f"go ahead with {prompt.last_text()!r}?", expires_in=60)
    return {"by": approval.by, "status": approval.status.value}


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
    server = GatewayServer(settings, [echo, slow, gate], shared_transport=MemoryTransport)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def as_(server: GatewayServer) -> Iterator[Callers]:
    callers = Callers(server)
    yield callers
    callers.close()


def status_of(call: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The HTTP status a langgraph-sdk call failed with."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        call(*args, **kwargs)
    return refused.value.response.status_code


def wait_until_ended(http: httpx.Client, task_id: str) -> dict[str, Any]:
    def ended() -> bool:
        return bool(http.get(f"/v1/tasks/{task_id}").json().get("status") == "succeeded")

    eventually_sync(ended, what=f"task {task_id} to succeed")
    document: dict[str, Any] = http.get(f"/v1/tasks/{task_id}").json()
    return document


def tasks_of(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = http.get("/v1/tasks", params={"limit": 1000, **params})
    assert answer.status_code == 200, answer.text
    tasks: list[dict[str, Any]] = answer.json()["tasks"]
    return tasks


def test_langgraph_threads_and_runs_are_their_tenants(
    server: GatewayServer,
    as_: Callers,
    clean_client_env: None,  # noqa: F811
) -> None:
    hi = {"messages": [{"role": "user", "content": "hi"}]}
    with (
        get_sync_client(url=server.url, api_key="acme-key") as acme,
        get_sync_client(url=server.url, api_key="globex-key") as globex,
    ):
        thread_id = acme.threads.create(metadata={"owner": "acme"})["thread_id"]
        run = acme.runs.create(thread_id, "echo", input=hi)
        acme.runs.join(thread_id, run["run_id"])
        # The run's task carries the thread's tenant, as a native submit carries its caller's.
        (task,) = [t for t in tasks_of(as_("acme-key")) if t["idempotency_key"] == run["run_id"]]
        assert task["tenant"] == "acme" and task["status"] == "succeeded"
        assert task["task_id"] not in {t["task_id"] for t in tasks_of(as_("globex-key"))}

        # Another tenant's thread and run answer as unknown ones: 404, nothing more.
        unknown = uuid.uuid4().hex
        for read in (
            lambda tid: globex.threads.get(tid),
            lambda tid: globex.threads.get_state(tid),
            lambda tid: globex.threads.get_history(tid),
            lambda tid: globex.threads.update(tid, metadata={"owner": "globex"}),
            lambda tid: globex.threads.delete(tid),
            lambda tid: globex.runs.list(tid),
            lambda tid: globex.runs.get(tid, run["run_id"]),
            lambda tid: globex.runs.join(tid, run["run_id"]),
            lambda tid: globex.runs.cancel(tid, run["run_id"]),
            lambda tid: globex.runs.create(tid, "echo", input=hi),
        ):
            assert status_of(read, thread_id) == status_of(read, unknown) == 404
        joined = as_("globex-key").get(f"/threads/{thread_id}/runs/{run['run_id']}/stream")
        assert joined.status_code == 404
        # Its id is taken all the same: a create under it is a conflict, never its thread.
        taken = status_of(globex.threads.create, thread_id=thread_id, if_exists="do_nothing")
        assert taken == 409

        theirs = globex.threads.create()["thread_id"]
        assert {t["thread_id"] for t in globex.threads.search(limit=1000)} >= {theirs}
        assert thread_id not in {t["thread_id"] for t in globex.threads.search(limit=1000)}
        mine = {t["thread_id"] for t in acme.threads.search(limit=1000)}
        assert thread_id in mine and theirs not in mine
        assert acme.threads.get(thread_id)["metadata"]["owner"] == "acme"  # not patched


async def test_a2a_tasks_are_their_tenants(server: GatewayServer) -> None:
    context = uuid.uuid4().hex
    immediately = SendMessageConfiguration(return_immediately=True)
    async with (
        a2a_client(server.url, "slow", api_key="acme-key") as acme,
        a2a_client(server.url, "slow", api_key="globex-key") as globex,
        a2a_client(server.url, "slow", api_key="globex-key", streaming=True) as globex_streaming,
        httpx.AsyncClient(base_url=server.url, headers={"X-Api-Key": "acme-key"}) as native,
    ):
        started = [
            await send_for_task(
                acme,
                request(message(data={"seconds": 30}, context_id=context), immediately),
            )
            for _ in range(3)
        ]
        task_id = started[0].id
        for call in (
            lambda: globex.get_task(GetTaskRequest(id=task_id)),
            lambda: globex.cancel_task(CancelTaskRequest(id=task_id)),
            lambda: anext(aiter(globex_streaming.subscribe(SubscribeToTaskRequest(id=task_id)))),
            lambda: globex.create_task_push_notification_config(
                TaskPushNotificationConfig(task_id=task_id, url="http://127.0.0.1:9/")
            ),
        ):
            with pytest.raises(TaskNotFoundError):
                await call()
        assert (await globex.list_tasks(ListTasksRequest(context_id=context))).tasks == []

        # totalSize counts every match, not the page.
        page = await acme.list_tasks(ListTasksRequest(context_id=context, page_size=2))
        assert len(page.tasks) == 2 and page.total_size == 3 and page.next_page_token
        rest = await acme.list_tasks(
            ListTasksRequest(context_id=context, page_size=2, page_token=page.next_page_token)
        )
        assert len(rest.tasks) == 1 and rest.total_size == 3
        assert {t.id for t in [*page.tasks, *rest.tasks]} == {t.id for t in started}
        assert (await native.get(f"/v1/tasks/{task_id}")).json()["tenant"] == "acme"
        # A read-only key reads through A2A (its scope by JSON-RPC method), no more.
        async with a2a_client(server.url, "slow", api_key="acme-reader") as reader:
            assert (await reader.get_task(GetTaskRequest(id=task_id))).id == task_id
            with pytest.raises(A2AClientError, match="403"):
                await send_for_task(reader, request(message(text="hi")))
        for task in started:
            await acme.cancel_task(CancelTaskRequest(id=task.id))


def test_every_a2a_method_asks_a_scope() -> None:
    assert SCOPES.keys() == METHODS.keys()


def test_metrics_count_tasks_per_bounded_tenant(
    server: GatewayServer, as_: Callers, issuer: Issuer
) -> None:
    # acme is named by an API key: its own label; initech only by a token: "other".
    initech = issuer.token(sub="bob", tenant="initech", scope="submit read")
    for http in (as_("acme-key"), as_(token=initech)):
        wait_until_ended(http, submit(http))
    metrics = as_().get("/metrics").text
    for sample in (
        'mesh_tenant_tasks_total{kind="submitted",tenant="acme"}',
        'mesh_tenant_tasks_total{kind="succeeded",tenant="acme"}',
        'mesh_tenant_tasks_total{kind="submitted",tenant="other"}',
    ):
        assert sample in metrics
    assert 'tenant="initech"' not in metrics


def test_an_approval_is_decided_by_the_authenticated_caller(
    server: GatewayServer, as_: Callers
) -> None:
    acme = as_("acme-key")
    asked = [submit(acme, "gate") for _ in range(2)]

    def waiting() -> set[str]:
        return {a["task_id"] for a in acme.get("/v1/approvals").json()["approvals"]}

    eventually_sync(lambda: set(asked) <= waiting(), what="the approvals in the inbox")
    # No `by` needed with auth on; one given says on whose behalf the caller decides.
    assert acme.post(f"/v1/approvals/{asked[0]}/approve", json={}).status_code == 202
    answer = acme.post(f"/v1/approvals/{asked[1]}/reject", json={"by": "ada", "note": "no"})
    assert answer.status_code == 202, answer.text
    results = [wait_until_ended(acme, task_id)["result"] for task_id in asked]
    assert results == [
        {"by": "acme-app", "status": "approved"},
        {"by": "acme-app on behalf of 'ada'", "status": "rejected"},
    ]
