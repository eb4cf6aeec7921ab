"""What `mesh dev` prints once the mesh is ready: where everything is, and what to try.

The commands are printed exactly as a second terminal in the same directory runs
them (they find the mesh through `.mesh/dev.env`); the README shows the same ones
and a test runs them as printed (tests/e2e/test_first_ten_minutes.py).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REFERENCE_TICKET = (
    '{"ticket_id": "T-1", "customer": {"email": "ada@example.com"}, '
    '"subject": "Where is my order ORD-1001?", "body": "It has not arrived."}'
)

ASSISTANT_QUESTION = '{"question": "What is Apache Kafka?"}'


@dataclass(frozen=True)
class Service:
    """One child process as the banner lists it."""

    pid: int
    label: str
    metrics: str | None  # its /metrics URL, "off", or None (not a mesh service)


@dataclass(frozen=True)
class Mesh:
    """Everything the banner shows about a dev mesh that is up."""

    seconds_to_ready: float
    broker: str  # "127.0.0.1:4567 (embedded Tansu, pid 12, log /tmp/...)"
    services: Sequence[Service]
    gateway_url: str | None
    model: str | None  # "http://127.0.0.1:4242/v1 (SmolLM2-135M-Instruct, ...)", or None
    dev_env: Path | None
    command: str  # how to run `mesh` from another terminal, e.g. ".venv/bin/mesh"
    reference_agents: bool  # the support-desk agents run, so their examples apply
    assistant: bool = False  # the `assistant` agent runs (it has a model to call)
    gateway_auth: bool = False  # MESH_GATEWAY_AUTH=on: callers need a key or token


def banner(mesh: Mesh) -> str:
    lines = [
        f"agentmesh dev is up (ready in {mesh.seconds_to_ready:.1f} s)",
        f"  broker    {mesh.broker}",
    ]
    if mesh.gateway_url:
        lines.append(f"  gateway   {mesh.gateway_url}   API docs: {mesh.gateway_url}/docs")
        lines.append(f"  console   {mesh.gateway_url}/console")
        lines.append(
            "  auth      on: callers send an API key or a token (MESH_GATEWAY_AUTH)"
            if mesh.gateway_auth
            else "  auth      off: anyone reaching the gateway may call it (MESH_GATEWAY_AUTH=on)"
        )
    if mesh.model:
        lines.append(f"  model     {mesh.model}")
    lines.append("  processes (metrics: Prometheus /metrics of each)")
    width = max((len(s.label) for s in mesh.services), default=0)
    for service in mesh.services:
        metrics = f"  metrics {service.metrics}" if service.metrics else ""
        lines.append(f"    pid {service.pid:<7} {service.label:<{width}}{metrics}".rstrip())
    if not mesh.services:
        lines.append("    (none)")
    if mesh.dev_env is not None:
        lines.append(f"  settings  {mesh.dev_env} (mesh commands run in this directory use it)")
    commands = try_commands(
        mesh.command, mesh.reference_agents, mesh.gateway_url, assistant=mesh.assistant
    )
    lines += ["", "Try, from another terminal in this directory:"]
    lines += [f"  {command}" for command in commands]
    lines += ["", "Logs follow (MESH_LOG_LEVEL=DEBUG shows more). Press Ctrl-C to stop."]
    return "\n".join(lines)


def try_commands(
    command: str, reference_agents: bool, gateway_url: str | None, *, assistant: bool = False
) -> list[str]:
    """The commands to try, each a line a shell runs as it is."""
    mesh = shlex.quote(command) if " " not in command else command  # "python -m mesh"
    found = [f"{mesh} agents"]
    if reference_agents:
        query = shlex.quote('{"query": "where is my parcel"}')
        found += [
            f"{mesh} submit knowledge {query}",
            f"{mesh} publish support.ticket.created {shlex.quote(REFERENCE_TICKET)}",
        ]
    if assistant:  # last submitted: `mesh task <task-id>` then shows the model's answer
        found.append(f"{mesh} submit assistant {shlex.quote(ASSISTANT_QUESTION)} --follow")
    found += [f"{mesh} tasks", f"{mesh} task <task-id>"]
    if gateway_url:
        found.append(f"curl -s {gateway_url}/v1/tasks")
    return found
