"""When a dev mesh is ready: every agent has registered, the gateway takes traffic, and
the embedded model answers.

`mesh dev` prints its banner only then, so each command it prints works at once: a
task submitted to an agent whose card is not on the agents topic yet would be refused
as "unknown agent", the gateway answers 503 until its view has caught up, and
llama.cpp answers 503 on /health while it loads the model's weights.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

import httpx

from mesh.client import Client
from mesh.settings import Settings

_POLL = 0.2  # seconds between checks
_REPORT_EVERY = 30.0  # seconds between "still waiting" lines


async def wait_until_ready(
    settings: Settings,
    agents: Collection[str],
    gateway_url: str | None,
    report: Callable[[str], None],
    *,
    model_url: str | None = None,
) -> None:
    """Return once the `agents` (names) have registered and the gateway (at
    `gateway_url`) and the model server (at `model_url`, its root) are ready.

    Waits as long as it takes (the caller cancels it on Ctrl-C or a child's exit);
    every 30 s it reports what it still waits for.
    """
    waiting: dict[str, str] = {}
    reporter = asyncio.create_task(_report_waiting(waiting, report))
    try:
        async with asyncio.TaskGroup() as group:
            if agents:
                group.create_task(_agents_registered(settings, agents, waiting))
            if gateway_url is not None:
                group.create_task(_http_ready("gateway", gateway_url, "/readyz", waiting))
            if model_url is not None:
                group.create_task(_http_ready("model", model_url, "/health", waiting))
    finally:
        reporter.cancel()


async def _agents_registered(
    settings: Settings, agents: Collection[str], waiting: dict[str, str]
) -> None:
    async with Client.from_settings(settings) as client:
        while missing := sorted(set(agents) - set(client.view.agents)):
            waiting["agents"] = f"agents to register: {', '.join(missing)}"
            await asyncio.sleep(_POLL)
    waiting.pop("agents", None)


async def _http_ready(what: str, url: str, path: str, waiting: dict[str, str]) -> None:
    """Poll `GET {url}{path}` until it answers 200."""
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while True:
            try:
                response = await http.get(path)
            except httpx.TransportError as exc:  # not listening yet
                waiting[what] = f"the {what} at {url} ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    break
                waiting[what] = f"the {what} at {url}: {response.text[:200]}"
            await asyncio.sleep(_POLL)
    waiting.pop(what, None)


async def _report_waiting(waiting: dict[str, str], report: Callable[[str], None]) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(_REPORT_EVERY)
        if waiting:
            seconds = time.monotonic() - started
            report(
                f"mesh dev: still starting after {seconds:.0f} s; waiting for "
                + "; ".join(waiting.values())
            )
