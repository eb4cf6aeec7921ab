"""What `mesh dev` starts: one plan per child, and the environment they all get."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mesh.dev._model import DevModel
from mesh.dev.broker import free_loopback_port
from mesh.errors import UsageError
from mesh.settings import profile_environment

# MESH_DEV_AGENT_PROCESSES: the agents in one `mesh run` child (the default: an idle
# mesh pays one process's loop, producer and control reader once), or one each (to
# stop or kill one agent type's process, or read one type's CPU apart). ADR 052.
AGENT_PROCESSES = ("one", "each")


@dataclass(frozen=True)
class Plan:
    """A child to start: what the banner calls it, its command, and its metrics."""

    label: str
    argv: list[str]
    metrics_port: int | None = None  # given as MESH_METRICS_PORT; None: as configured
    metrics: str | None = None
    # The banner's lines for it (one per agent type it runs); empty: `label`.
    banner_labels: tuple[str, ...] = ()


def agent_processes(environment: Mapping[str, str]) -> str:
    """How the dev mesh runs its agents, from MESH_DEV_AGENT_PROCESSES ("one" by default).

    Raises:
        UsageError: the value is neither "one" nor "each".
    """
    value = environment.get("MESH_DEV_AGENT_PROCESSES", "").strip().lower() or "one"
    if value not in AGENT_PROCESSES:
        given = environment["MESH_DEV_AGENT_PROCESSES"]
        raise UsageError(
            f"MESH_DEV_AGENT_PROCESSES={given!r}: set it to 'one' (every agent type in "
            "one `mesh run` process) or 'each' (a process per agent type)"
        )
    return value


def child_environment(
    bootstrap_servers: str, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for dev children: os.environ, then `env`, then the mesh settings.

    Args:
        bootstrap_servers: Becomes MESH_BOOTSTRAP_SERVERS (always overrides).
        env: Extra variables layered over os.environ.

    Returns:
        A new dict; the "dev" settings profile (mesh.settings.PROFILES: short group and
        fetch timers for one laptop and the embedded broker) fills only variables that
        are not set yet.
    """
    merged = {**os.environ, **(env or {})}
    merged["MESH_BOOTSTRAP_SERVERS"] = bootstrap_servers
    merged.update(profile_environment("dev", merged))
    # Children share our stdout; unbuffered output keeps their logs in order when piped.
    merged.setdefault("PYTHONUNBUFFERED", "1")
    return merged


def plan_children(
    agents: Mapping[str, str],
    *,
    model: DevModel | None,
    supervisor: bool,
    gateway_url: str | None,
    extra_commands: Sequence[Sequence[str]],
    environment: Mapping[str, str],
    processes: str = "one",
) -> list[Plan]:
    """The embedded model (first: it loads while the agents start), agents (in one
    `mesh run`, or with `processes="each"` one each), supervisor, gateway, extra
    commands; each mesh service with its metrics port.

    Several processes on one host cannot share one metrics port, so each gets a free
    one of its own (the banner says which), unless MESH_METRICS_PORT is set.
    """
    host = environment.get("MESH_METRICS_HOST", "127.0.0.1")
    given = environment.get("MESH_METRICS_PORT")

    def service(label: str, argv: list[str], banner_labels: Sequence[str] = ()) -> Plan:
        if given is not None:
            shown = "off" if given.strip() == "-1" else f"http://{host}:{given}/metrics"
            return Plan(label, argv, None, shown, tuple(banner_labels))
        port = free_loopback_port()
        return Plan(label, argv, port, f"http://{host}:{port}/metrics", tuple(banner_labels))

    mesh = [sys.executable, "-m", "mesh"]
    plans: list[Plan] = []
    if model is not None and model.embedded:
        plans.append(Plan(f"model-server ({model.name})", model.argv()))
    labels = [f"{name} ({spec})" for spec, name in agents.items()]
    if processes == "one" and len(agents) > 1:
        label = f"agents ({', '.join(agents.values())})"
        plans.append(service(label, [*mesh, "run", *agents], labels))
    else:
        for spec, label in zip(agents, labels, strict=True):
            plans.append(service(label, [*mesh, "run", spec]))
    if supervisor:
        plans.append(service("supervisor", [*mesh, "supervisor", "run"]))
    if gateway_url is not None:  # the gateway serves its metrics itself
        plans.append(Plan("gateway", [*mesh, "gateway"], None, f"{gateway_url}/metrics"))
    plans += [Plan(shlex.join(cmd), list(cmd)) for cmd in extra_commands]
    return plans
