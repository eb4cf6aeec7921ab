"""`mesh dev`: a broker plus one process per agent, stopped in order on Ctrl-C.

Every child runs in its own session (see `mesh.broker.spawn_child`), so the
terminal's SIGINT reaches only this process. It then stops the agents (and extra
commands) first and the broker last, so agents can commit and leave their groups
while the broker is still there.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

from mesh.broker import BrokerStartError, EmbeddedBroker, spawn_child, terminate_child

T = TypeVar("T")

_CHILD_GRACE = 10.0

# The dev profile: short group and fetch timers suit one laptop and the embedded
# broker (see mesh.settings). Values the user already set win.
DEV_PROFILE: Mapping[str, str] = {
    "MESH_SESSION_TIMEOUT": "6",
    "MESH_HEARTBEAT_INTERVAL": "1",
    "MESH_FETCH_MAX_WAIT": "0.01",
    "MESH_IDEMPOTENT_PRODUCER": "false",  # the embedded broker grants no producer ids
    "MESH_LIVENESS_INTERVAL": "1",  # the supervisor notices a dead worker in seconds
}


@dataclass
class _Child:
    label: str
    proc: asyncio.subprocess.Process


def child_environment(
    bootstrap_servers: str, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for dev children: os.environ, then `env`, then the mesh settings.

    Args:
        bootstrap_servers: Becomes MESH_BOOTSTRAP_SERVERS (always overrides).
        env: Extra variables layered over os.environ.

    Returns:
        A new dict; the dev profile fills only variables that are not set yet.
    """
    merged = {**os.environ, **(env or {})}
    merged["MESH_BOOTSTRAP_SERVERS"] = bootstrap_servers
    for name, value in DEV_PROFILE.items():
        merged.setdefault(name, value)
    # Children share our stdout; unbuffered output keeps their logs in order when piped.
    merged.setdefault("PYTHONUNBUFFERED", "1")
    return merged


def _banner(address: str, broker: EmbeddedBroker | None, children: Sequence[_Child]) -> str:
    if broker is not None:
        where = f"embedded Tansu, pid {broker.pid}, log {broker.log_path}"
    else:
        where = "external cluster"
    lines = ["agentmesh dev is up", f"  broker: {address} ({where})", "  processes:"]
    lines += [f"    pid {child.proc.pid}  {child.label}" for child in children]
    if not children:
        lines.append("    (none)")
    lines += [
        "",
        "Submit work from another terminal:",
        f"export MESH_BOOTSTRAP_SERVERS={address}",
        """.venv/bin/mesh submit knowledge '{"query": "where is my parcel"}'""",
        ".venv/bin/mesh publish support.ticket.created '"
        '{"ticket_id": "T-1", "customer": {"email": "ada@example.com"}, '
        '"subject": "Where is my order ORD-1001?", "body": "It has not arrived."}\'',
        ".venv/bin/mesh tasks  and  .venv/bin/mesh task <task-id>",
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


async def _unless_stopped(coro: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """Run `coro`, but cancel it and return None if `stop` is set first (Ctrl-C at start-up)."""
    work = asyncio.ensure_future(coro)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not work.done():
            work.cancel()
        await asyncio.gather(work, stopped, return_exceptions=True)
    return None if work.cancelled() else work.result()


async def _watch(
    stop: asyncio.Event, children: Sequence[_Child], broker: EmbeddedBroker | None, out: TextIO
) -> int:
    """Wait for a stop signal (returns 0) or any child's unexpected exit (returns 1)."""
    waits: dict[asyncio.Future[Any], str] = {
        asyncio.ensure_future(child.proc.wait()): f"{child.label} (pid {child.proc.pid})"
        for child in children
    }
    if broker is not None:
        waits[asyncio.ensure_future(broker.wait())] = f"the broker (pid {broker.pid})"
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({stopped, *waits}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopped, *waits):
            task.cancel()
        await asyncio.gather(stopped, *waits, return_exceptions=True)
    exited = [task for task in done if task is not stopped]
    if not exited:
        print("\nStopping...", file=out, flush=True)
        return 0
    task = exited[0]
    print(f"\n{waits[task]} exited unexpectedly with code {task.result()}; stopping", file=out)
    out.flush()
    return 1


async def _stop_children(children: Sequence[_Child]) -> None:
    await asyncio.gather(*(terminate_child(child.proc, _CHILD_GRACE) for child in children))


async def run_dev(
    *,
    agents: Sequence[str],
    bootstrap_servers: str | None,
    extra_commands: Sequence[Sequence[str]] = (),
    env: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run a dev mesh until Ctrl-C/SIGTERM or until a child exits.

    Args:
        agents: Agent specs such as "agents.triage:agent"; each runs as `mesh run <spec>`.
        bootstrap_servers: An existing cluster, or None to start an embedded broker.
        extra_commands: Further commands to run alongside the agents (e.g. a gateway).
        env: Extra environment variables for every child.
        out: Where the banner and status lines go.

    Returns:
        0 after a signal-initiated stop; 1 if a child exited on its own or the broker
        could not start.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    broker: EmbeddedBroker | None = None
    children: list[_Child] = []
    try:
        address = bootstrap_servers
        if address is None:
            broker = EmbeddedBroker()
            address = await _unless_stopped(broker.start(), stop)
            if address is None:
                return 0
        child_env = child_environment(address, env)
        commands = [(spec, [sys.executable, "-m", "mesh", "run", spec]) for spec in agents]
        commands += [(shlex.join(cmd), list(cmd)) for cmd in extra_commands]
        for label, argv in commands:
            try:
                children.append(_Child(label, await spawn_child(argv, env=child_env)))
            except OSError as exc:
                print(f"mesh dev: cannot start {label}: {exc}", file=sys.stderr, flush=True)
                return 1
        print(_banner(address, broker, children), file=out, flush=True)
        return await _watch(stop, children, broker, out)
    except BrokerStartError as exc:
        print(f"mesh dev: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # Agents first, broker last: agents still need the broker to shut down cleanly.
        await _stop_children(children)
        if broker is not None:
            await broker.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main_dev(
    agents: Sequence[str],
    *,
    bootstrap_servers: str | None = None,
    extra_commands: Sequence[Sequence[str]] = (),
    env: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Synchronous entry point for `mesh dev`: `run_dev` under `asyncio.run`."""
    return asyncio.run(
        run_dev(
            agents=agents,
            bootstrap_servers=bootstrap_servers,
            extra_commands=extra_commands,
            env=env,
            out=out,
        )
    )
