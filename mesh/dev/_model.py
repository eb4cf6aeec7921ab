"""Which model the dev mesh's agents call: the embedded one, or one the user names.

With no `MESH_MODEL_ENDPOINT` in the environment, `mesh dev` runs `mesh model-server`
(mesh/dev/model_server.py) on a free loopback port as one of its processes, and gives
every child `MESH_MODEL_ENDPOINT` and `MESH_MODEL_NAME` for it (so they also land in
`.mesh/dev.env`). Setting `MESH_MODEL_ENDPOINT` is the one switch to a hosted model:
then nothing is started and the user's `MESH_MODEL_*` settings pass through as they are.
`--no-model` or `MESH_DEV_MODEL=off` starts no model and sets nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from mesh.agent import Agent
from mesh.dev.broker import free_loopback_port
from mesh.dev.model_server import LOOPBACK, MODEL_NAME, THREADS
from mesh.errors import SetupError
from mesh.settings import load_settings

_OFF = frozenset({"off", "0", "false", "no"})


@dataclass(frozen=True)
class DevModel:
    """The model a dev mesh's agents call, as its banner line and child settings say."""

    endpoint: str  # the OpenAI-compatible base URL, ".../v1"
    name: str | None
    port: int | None = None  # set when `mesh dev` runs the embedded model itself

    @property
    def embedded(self) -> bool:
        return self.port is not None

    @property
    def root_url(self) -> str:
        """The server's root, where llama.cpp answers `/health`."""
        return self.endpoint.removesuffix("/").removesuffix("/v1")

    def argv(self) -> list[str]:
        """The command that runs the embedded model (only when `embedded`)."""
        return [sys.executable, "-m", "mesh", "model-server", "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        """What every child gets: nothing for a user's model (theirs passes through)."""
        if not self.embedded:
            return {}
        return {"MESH_MODEL_ENDPOINT": self.endpoint, "MESH_MODEL_NAME": MODEL_NAME}

    def describe(self) -> str:
        """The banner's line, e.g. "http://127.0.0.1:4242/v1 (SmolLM2-135M-Instruct, ...)"."""
        if self.embedded:
            return f"{self.endpoint} ({self.name}, embedded llama.cpp, {THREADS} thread)"
        name = self.name or "model: as the agents declare"
        return f"{self.endpoint} ({name}, from MESH_MODEL_ENDPOINT)"


def choose_model(environment: Mapping[str, str], *, wanted: bool = True) -> DevModel | None:
    """The dev mesh's model: the user's (`MESH_MODEL_ENDPOINT`), else the embedded one.

    Args:
        environment: The variables the children will get.
        wanted: False (`--no-model`) runs no embedded model; so does MESH_DEV_MODEL=off.

    Returns:
        None when no model is configured and none is to be started.
    """
    if endpoint := environment.get("MESH_MODEL_ENDPOINT", "").strip():
        return DevModel(endpoint, environment.get("MESH_MODEL_NAME") or None)
    if not wanted or environment.get("MESH_DEV_MODEL", "").strip().lower() in _OFF:
        return None
    port = free_loopback_port()
    return DevModel(f"http://{LOOPBACK}:{port}/v1", MODEL_NAME, port)


def without_unmodelled(
    agents: Mapping[str, Agent], environment: Mapping[str, str], out: TextIO
) -> dict[str, str]:
    """The specs and names of the agents to start: all but those whose declared model
    does not resolve with `environment` (the dev mesh runs no model: `--no-model` or
    MESH_DEV_MODEL=off, and MESH_MODEL_* name none). Such an agent would stop at once
    with the same error; the rest of the mesh runs without it, and this says why."""
    overrides = {
        field: value
        for field, variable in (
            ("model_endpoint", "MESH_MODEL_ENDPOINT"),
            ("model_name", "MESH_MODEL_NAME"),
        )
        if (value := environment.get(variable))
    }
    runnable = {}
    for spec, agent in agents.items():
        if agent.model is not None:
            try:
                agent.validate(load_settings(profile="dev", **overrides))
            except SetupError as exc:
                print(
                    f"mesh dev: {agent.name} is not started (this dev mesh runs no model): {exc}",
                    file=out,
                    flush=True,
                )
                continue
        runnable[spec] = agent.name
    return runnable
