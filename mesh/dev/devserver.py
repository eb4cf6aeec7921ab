"""`mesh dev`: a broker, the embedded model and the agents (in one `mesh run`, or one
process each with MESH_DEV_AGENT_PROCESSES=each), stopped in order on Ctrl-C. What
runs, and with which settings, is planned in mesh/dev/_children.py and
mesh/dev/_model.py (the model unless MESH_MODEL_ENDPOINT names another).

Every child runs in its own session (see `mesh.dev.broker.spawn_child`), so the
terminal's SIGINT reaches only this process. It then stops the agents (and extra
commands) first and the broker last, so agents can commit and leave their groups
while the broker is still there.

It writes `.mesh/dev.env` (mesh/dev/env_file.py), through which `mesh` commands in a
second terminal find the mesh, and prints its banner once every agent has registered
and the gateway and the model are ready (mesh/dev/_readiness.py), so the commands it
prints work.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from mesh.cli.support import invocation, load_agent
from mesh.dev._banner import Mesh, Service, banner
from mesh.dev._children import Plan, agent_processes, child_environment, plan_children
from mesh.dev._model import DevModel, choose_model, without_unmodelled
from mesh.dev._readiness import wait_until_ready
from mesh.dev.broker import EmbeddedBroker, free_loopback_port, spawn_child, terminate_child
from mesh.dev.env_file import DEV_ENV, dev_settings, read_dev_env, remove_dev_env, write_dev_env
from mesh.errors import BrokerStartError
from mesh.settings import load_settings

T = TypeVar("T")

_CHILD_GRACE = 10.0


@dataclass
class _Child:
    label: str
    proc: asyncio.subprocess.Process
    metrics: str | None = None  # its /metrics URL, "off", or None (not a mesh service)
    banner_labels: tuple[str, ...] = ()  # one line per agent type it runs; empty: `label`


def _gateway_address(environment: Mapping[str, str]) -> tuple[str, int]:
    host = environment.get("MESH_GATEWAY_HOST", "127.0.0.1")
    port = int(environment.get("MESH_GATEWAY_PORT", "8000"))
    return host, port


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


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
    supervisor: bool = False,
    gateway: bool = False,
    model: bool = False,
    extra_commands: Sequence[Sequence[str]] = (),
    env: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
    directory: Path | None = None,
    command: str = "mesh",
) -> int:
    """Run a dev mesh until Ctrl-C/SIGTERM or until a child exits.

    Args:
        agents: Agent specs such as "agents.triage:agent" (in one `mesh run`: ADR 052).
        bootstrap_servers: An existing cluster, or None to start an embedded broker.
        supervisor: Run `mesh supervisor run` too.
        gateway: Run `mesh gateway` too (on MESH_GATEWAY_HOST/PORT, checked free first).
        model: Run the embedded model (`mesh model-server`) unless MESH_MODEL_ENDPOINT
            names another or MESH_DEV_MODEL=off (mesh/dev/_model.py).
        extra_commands: Further commands to run alongside; env: variables for every child.
        out: Where the banner and status lines go.
        directory: Where `.mesh/dev.env` goes (default: the working directory).
        command: How the banner spells `mesh` for a second terminal.

    Returns:
        0 after a signal-initiated stop; 1 if a child exited, the broker could not start
        or the gateway's port is taken.

    Raises:
        UsageError: a spec names no importable `Agent`; MESH_DEV_AGENT_PROCESSES is bad.
    """
    started = time.monotonic()
    loaded = {spec: load_agent(spec) for spec in agents}  # before anything starts: a typo fails
    env = dict(env or {})
    processes = agent_processes({**os.environ, **env})  # so does a bad setting
    if (claimed := _claim_services(env, gateway=gateway, model=model)) is None:
        return 1
    names, (gateway_url, dev_model) = without_unmodelled(loaded, env, out), claimed
    run = _DevRun(names, gateway_url, out, command, started, dev_model, processes)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, run.stop.set)
    try:
        return await run.serve(
            bootstrap_servers,
            supervisor=supervisor,
            extra_commands=extra_commands,
            env=env,
            directory=directory or Path.cwd(),
        )
    except BrokerStartError as exc:
        print(f"mesh dev: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        await run.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _claim_services(
    env: dict[str, str], *, gateway: bool, model: bool
) -> tuple[str | None, DevModel | None] | None:
    """The gateway's URL and the agents' model, their settings added to `env`; None
    (said on stderr) when the gateway's address is taken."""
    gateway_url = None
    if gateway:
        if (claimed := _claim_gateway_address({**os.environ, **env})) is None:
            return None
        gateway_url, chosen = claimed
        env.update(chosen)
    dev_model = choose_model({**os.environ, **env}, wanted=model)
    env.update(dev_model.environment() if dev_model else {})
    return gateway_url, dev_model


def _claim_gateway_address(requested: Mapping[str, str]) -> tuple[str, dict[str, str]] | None:
    """The gateway's URL and the variables that fix its port; None (said on stderr)
    when the address is taken."""
    host, port = _gateway_address(requested)
    chosen = {}
    if port == 0:  # "any free port": chosen here, so the banner can name it
        port = free_loopback_port()
        chosen["MESH_GATEWAY_PORT"] = str(port)
    if _port_taken(host, port):
        print(
            f"mesh dev: the gateway's address {host}:{port} is taken (another `make dev`?); "
            "stop that, or set MESH_GATEWAY_PORT to a free port",
            file=sys.stderr,
            flush=True,
        )
        return None
    return f"http://{host}:{port}", chosen


@dataclass
class _DevRun:
    """One `mesh dev` run: what it started, so that `close` stops it all in order."""

    names: dict[str, str]  # agent spec -> agent name
    gateway_url: str | None
    out: TextIO
    command: str
    started: float  # time.monotonic() at the start, for the banner
    model: DevModel | None  # the model the agents call, if any
    processes: str  # MESH_DEV_AGENT_PROCESSES: "one" `mesh run` for the agents, or "each"
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    broker: EmbeddedBroker | None = None
    children: list[_Child] = field(default_factory=list)
    dev_env: Path | None = None
    announce: asyncio.Task[None] | None = None

    async def serve(
        self,
        bootstrap_servers: str | None,
        *,
        supervisor: bool,
        extra_commands: Sequence[Sequence[str]],
        env: Mapping[str, str] | None,
        directory: Path,
    ) -> int:
        """Start the broker (unless given one) and the children, then watch them."""
        address = bootstrap_servers
        if address is None:
            self.broker = EmbeddedBroker()
            address = await _unless_stopped(self.broker.start(), self.stop)
            if address is None:
                return 0
        child_env = child_environment(address, env)
        # This process checks readiness with the children's settings.
        os.environ.update({k: v for k, v in child_env.items() if k.startswith("MESH_")})
        self.dev_env = _write_dev_env(directory, child_env, self.out)
        plans = plan_children(
            self.names,
            model=self.model,
            supervisor=supervisor,
            gateway_url=self.gateway_url,
            extra_commands=extra_commands,
            environment=child_env,
            processes=self.processes,
        )
        if not await self._spawn(plans, child_env):
            return 1
        self.announce = asyncio.create_task(self._announce_when_ready(address, self.dev_env))
        return await _watch(self.stop, self.children, self.broker, self.out)

    async def _spawn(self, plans: Sequence[Plan], child_env: Mapping[str, str]) -> bool:
        """Start every planned child; False (said on stderr) if one could not start."""
        for plan in plans:
            plan_env = dict(child_env)
            if plan.metrics_port is not None:
                plan_env["MESH_METRICS_PORT"] = str(plan.metrics_port)
            try:
                proc = await spawn_child(plan.argv, env=plan_env)
            except OSError as exc:
                print(f"mesh dev: cannot start {plan.label}: {exc}", file=sys.stderr, flush=True)
                return False
            self.children.append(_Child(plan.label, proc, plan.metrics, plan.banner_labels))
        return True

    async def _announce_when_ready(self, address: str, dev_env: Path) -> None:
        """The banner, once every agent has registered and the gateway and the embedded
        model are ready."""
        model = self.model
        settings = load_settings()
        await wait_until_ready(
            settings,
            set(self.names.values()),
            self.gateway_url,
            self._say,
            model_url=model.root_url if model is not None and model.embedded else None,
        )
        mesh = Mesh(
            seconds_to_ready=time.monotonic() - self.started,
            broker=_broker_line(address, self.broker),
            services=[
                Service(c.proc.pid, label, c.metrics)
                for c in self.children
                for label in c.banner_labels or [c.label]
            ],
            gateway_url=self.gateway_url,
            model=model.describe() if model is not None else None,
            dev_env=_relative(dev_env),
            command=self.command,
            reference_agents=set(REFERENCE_NAMES) <= set(self.names.values()),
            assistant="assistant" in self.names.values(),
            gateway_auth=settings.gateway_auth == "on",
        )
        self._say(banner(mesh))

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def close(self) -> None:
        """Stop the banner's wait, remove the dev env file, then stop the children and
        the broker last."""
        if self.announce is not None:
            self.announce.cancel()
            await asyncio.gather(self.announce, return_exceptions=True)
        if self.dev_env is not None:  # first: commands now say "not running", not time out
            remove_dev_env(self.dev_env, pid=os.getpid())
        # Agents first, broker last: agents still need the broker to shut down cleanly.
        await _stop_children(self.children)
        if self.broker is not None:
            await self.broker.stop()


REFERENCE_NAMES = ("triage", "knowledge", "orders")


def _broker_line(address: str, broker: EmbeddedBroker | None) -> str:
    if broker is None:
        return f"{address} (external cluster)"
    return f"{address} (embedded Tansu, pid {broker.pid}, log {broker.log_path})"


def _write_dev_env(directory: Path, child_env: Mapping[str, str], out: TextIO) -> Path:
    existing = read_dev_env(directory / DEV_ENV)
    if existing is not None and existing.running and existing.pid != os.getpid():
        print(
            f"mesh dev: {existing.describe()} runs here too; commands in this directory "
            "now use this one",
            file=out,
            flush=True,
        )
    return write_dev_env(directory, dev_settings(child_env), pid=os.getpid())


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def main_dev(
    agents: Sequence[str],
    *,
    bootstrap_servers: str | None = None,
    supervisor: bool = False,
    gateway: bool = False,
    model: bool = False,
    extra_commands: Sequence[Sequence[str]] = (),
    env: Mapping[str, str] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Synchronous entry point for `mesh dev`: `run_dev` under `asyncio.run`."""
    return asyncio.run(
        run_dev(
            agents=agents,
            bootstrap_servers=bootstrap_servers,
            supervisor=supervisor,
            gateway=gateway,
            model=model,
            extra_commands=extra_commands,
            env=env,
            out=out,
            command=invocation(),
        )
    )
