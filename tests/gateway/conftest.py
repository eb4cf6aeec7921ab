"""A real gateway on a real socket, in front of real workers, over the test broker.

The gateway and the test agents (tests/gateway/agents.py) run in a background thread
with its own event loop, so synchronous clients (the sync LangGraph SDK, Deep Agents
tools) can call it from the test without blocking the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import httpx
import pytest
import uvicorn

from mesh import Agent
from mesh.gateway.app import create_app
from mesh.runtime.worker import Worker
from mesh.settings import Settings, load_settings
from mesh.transport.base import Transport
from mesh.transport.kafka.adapter import KafkaTransport
from tests.conftest import bootstrap_servers  # noqa: F401 (imported: pytest scopes it to this package)
from tests.gateway.agents import ALL
from tests.gateway.native_support import WebhookReceiver
from tests.helpers import eventually
from tests.model_double import ModelDouble
from tests.research_support import ResearchScript

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayServer:
    """`create_app` served by uvicorn, plus in-process workers for `agents`; over the
    test broker, or over the transport `shared_transport` makes (made in the server's
    thread, and shared by the gateway and the workers: the in-memory one); on `port`,
    or a free one."""

    def __init__(
        self,
        settings: Settings,
        agents: list[Agent],
        *,
        shared_transport: Callable[[], Transport] | None = None,
        port: int | None = None,
    ) -> None:
        self.settings = settings.model_copy(
            update={"gateway_host": "127.0.0.1", "gateway_port": port or free_port()}
        )
        self.url = f"http://127.0.0.1:{self.settings.gateway_port}"
        self._agents = agents
        self._shared_transport = shared_transport
        self._server: uvicorn.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: Transport | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def start(self, timeout: float = 90.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the gateway did not start within {timeout} s")
        if self._failure is not None:
            raise RuntimeError("the gateway failed to start") from self._failure

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=30)

    def call(self, work: Callable[[Transport], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run `work` on the server's loop with its transport (a test's own writes, say
        with a `Client` of it); its result."""
        assert self._loop is not None and self._transport is not None, "not started"

        async def run() -> T:
            assert self._transport is not None
            return await work(self._transport)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start() or the test's requests
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            shared = self._shared_transport() if self._shared_transport else None
            transport = shared or KafkaTransport(self.settings)
            self._loop, self._transport = asyncio.get_running_loop(), transport
            await transport.start()
            stack.push_async_callback(transport.stop)
            # Started together: each joins its own group, and the joins (a few seconds
            # each on the embedded broker) overlap instead of adding up.
            workers = [
                Worker(agent, transport=transport, settings=self.settings) for agent in self._agents
            ]

            async def stop_workers() -> None:
                await asyncio.gather(*(worker.stop() for worker in workers))

            stack.push_async_callback(stop_workers)
            await asyncio.gather(*(worker.start() for worker in workers))
            config = uvicorn.Config(
                create_app(self.settings, transport=shared),
                host=self.settings.gateway_host,
                port=self.settings.gateway_port,
                log_config=None,
                lifespan="on",
            )
            server = self._server = uvicorn.Server(config)
            serving = asyncio.create_task(server.serve())
            await eventually(  # uvicorn offers no event for it
                lambda: server.started or serving.done(),
                timeout=60,
                interval=0.02,
                what="uvicorn to listen",
            )
            self._ready.set()
            await serving


NATIVE_WEBHOOK_SECRET = "native-tests-secret"
LANGGRAPH_WEBHOOK_SECRET = "langgraph-tests-secret"  # a run's webhook is signed with it


@pytest.fixture(scope="package")
def native_gateway(bootstrap_servers: str) -> Iterator[GatewayServer]:  # noqa: F811
    """One gateway shared by the native API tests (tests/gateway/test_native_*.py): the
    test agents plus a delegating `parent` and an event-driven `intake`, a webhook
    secret, fast webhook retries and a small request limit. Its namespace is its own;
    tests use fresh ids and keys."""
    from tests.conftest import _embedded
    from tests.gateway.native_agents import intake, parent

    settings = load_settings(
        profile="test",
        bootstrap_servers=bootstrap_servers,
        namespace=f"t{uuid.uuid4().hex[:10]}",
        idempotent_producer=not _embedded(),
        gateway_webhook_secret=NATIVE_WEBHOOK_SECRET,
        gateway_webhook_max_attempts=3,
        gateway_webhook_backoff=0.2,
        gateway_max_request_bytes=64 * 1024,
    )
    server = GatewayServer(settings, [*ALL, parent, intake])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def research_script() -> Iterator[ResearchScript]:
    """The script of the model double the research desk behind `langgraph_gateway` calls
    (tests/research_support.py); a test holding its calls releases them."""
    script = ResearchScript()
    with ModelDouble() as double:
        double.responder = script
        script.url = double.url
        yield script
        script.release()


@pytest.fixture(scope="package")
def langgraph_gateway(
    bootstrap_servers: str,  # noqa: F811
    research_script: ResearchScript,
) -> Iterator[GatewayServer]:
    """One gateway with the test agents and the research desk (on a model double),
    shared by the LangGraph API and Deep Agents tests (tests/gateway/test_langgraph_*.py,
    test_deepagents.py); each test uses its own threads. It has its own namespace."""
    from agents.research import agent as research
    from agents.researcher import agent as researcher
    from tests.conftest import _embedded
    from tests.gateway.langgraph_agents import napper
    from tests.gateway.langgraph_support import wait_until_runs_start

    settings = load_settings(
        profile="test",
        bootstrap_servers=bootstrap_servers,
        namespace=f"t{uuid.uuid4().hex[:10]}",
        idempotent_producer=not _embedded(),
        gateway_webhook_secret=LANGGRAPH_WEBHOOK_SECRET,
        model_endpoint=research_script.url,
        model_name="double",
    )
    server = GatewayServer(settings, [*ALL, napper, research, researcher])
    server.start()
    try:
        wait_until_runs_start(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture
def gateway(broker_settings: Settings) -> Iterator[GatewayServer]:
    """A gateway with the echo, slow, fail and ask agents behind it."""
    server = GatewayServer(broker_settings, ALL)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(native_gateway: GatewayServer) -> Iterator[httpx.Client]:
    """A client on the shared native gateway."""
    with httpx.Client(base_url=native_gateway.url, timeout=20) as client:
        yield client


@pytest.fixture
def langgraph_http(langgraph_gateway: GatewayServer) -> Iterator[httpx.Client]:
    """A client on the shared LangGraph gateway, sending the header Deep Agents always
    sends (it must be tolerated)."""
    headers = {"x-auth-scheme": "langsmith"}
    with httpx.Client(base_url=langgraph_gateway.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on a free port; tests post to paths of their own."""
    server = WebhookReceiver()
    try:
        yield server
    finally:
        server.close()
