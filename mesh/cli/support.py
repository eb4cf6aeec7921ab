"""What the `mesh` commands share: usage errors, agent specs, and a connected client.

Which broker a command uses: `MESH_BOOTSTRAP_SERVERS` when set, else the dev mesh
whose `.mesh/dev.env` is in the working directory or above (`mesh dev` writes it),
else the default. A failed connection ends the command with what is wrong with
that choice (`mesh.cli._broker_diagnosis`), not a bare "cannot reach the broker".
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mesh.agent import Agent
from mesh.cli._broker_diagnosis import diagnose, stale_dev_mesh
from mesh.client import Client
from mesh.dev.env_file import DevMesh, use_dev_mesh
from mesh.errors import MeshError, TransportError, UsageError
from mesh.settings import Settings, load_settings
from mesh.transport.base import Transport


@dataclass(frozen=True)
class BrokerChoice:
    """Where a command's broker address came from."""

    configured: bool  # MESH_BOOTSTRAP_SERVERS was set by the user
    dev: DevMesh | None  # the running dev mesh whose settings were taken


def choose_broker() -> BrokerChoice:
    """Take the dev mesh's settings when no broker is configured (see module doc).

    Raises:
        BrokerUnreachable: the dev env file found names a `mesh dev` that is gone.
    """
    configured = bool(os.environ.get("MESH_BOOTSTRAP_SERVERS"))
    dev = use_dev_mesh()
    if dev is None:
        return BrokerChoice(configured, None)
    if not dev.running:
        raise stale_dev_mesh(dev)
    print(f"mesh: using {dev.describe()}", file=sys.stderr)
    return BrokerChoice(configured, dev)


async def start_connected(
    start: Callable[[], Awaitable[None]], settings: Settings, args: argparse.Namespace
) -> None:
    """Run `start` (a client's or transport's); a `TransportError` becomes a diagnosis."""
    try:
        await start()
    except TransportError as exc:
        choice: BrokerChoice = getattr(args, "broker", BrokerChoice(True, None))
        raise await diagnose(exc, settings, dev=choice.dev, configured=choice.configured) from exc


async def with_client(args: argparse.Namespace, work: Callable[[Client], Awaitable[int]]) -> int:
    """Connect a client, run `work` with it, and stop it, also when `work` fails."""
    settings = load_settings()
    client = Client.from_settings(settings)
    try:
        await start_connected(client.start, settings, args)
    except MeshError:
        # Half started (e.g. the view's consumer created, the broker gone): release it
        # quietly, so the one-line error is all the user sees.
        with contextlib.suppress(TransportError):
            await client.stop()
        raise
    try:
        return await work(client)
    finally:
        await client.stop()


async def started_transport(
    transport: Transport, settings: Settings, args: argparse.Namespace
) -> Transport:
    """`transport`, started (for commands that need no client, as `mesh run`)."""
    await start_connected(transport.start, settings, args)
    return transport


def load_agent(spec: str) -> Agent:
    """`package.module:attribute` -> the `Agent` it names.

    Raises:
        UsageError: the spec is malformed, its module does not import, or the
            attribute is not an `Agent`.
    """
    module_name, _, attribute = spec.partition(":")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules beside the caller are importable
    if not module_name or not attribute:
        raise UsageError(f"agent spec {spec!r} must look like 'agents.triage:agent'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    agent = getattr(module, attribute, None)
    if not isinstance(agent, Agent):
        raise UsageError(f"{spec!r} is not an Agent (got {type(agent).__name__})")
    return agent


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def invocation() -> str:
    """How to run `mesh` again, as the user ran it (".venv/bin/mesh", "mesh"), for
    hints they can paste back."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "mesh"
    if not program.endswith("__main__.py"):
        return program
    # `python -m mesh`: the console script beside this interpreter, else the same way.
    script = Path(sys.executable).parent / "mesh"
    if not script.exists():
        return f"{sys.executable} -m mesh"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)
