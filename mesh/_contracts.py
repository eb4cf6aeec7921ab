"""Contracts a process must know although it runs none of the agents that define them.

A message model is known once the module that registers it (`@REGISTRY.register`) is
imported. The `schemas` package registers the mesh's own messages only; a worker
imports its agent's module, and with it what the agent takes, delegates and emits.
A client (the gateway, the CLI) runs no agent: it imports the modules that
`MESH_CONTRACTS` names (default: the reference application's `agents.contracts`), so
`POST /v1/events/<type>` and `mesh publish` check a domain event against its model,
and `mesh schemas check` compares every contract with its committed snapshot.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mesh.errors import SettingsError
from mesh.settings import Settings


def import_contracts(settings: Settings) -> list[ModuleType]:
    """Import each module of `settings.contracts` (a module is imported once per process).

    Raises:
        SettingsError: a module does not import.
    """
    modules = []
    for name in settings.contracts:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise SettingsError(
                f"MESH_CONTRACTS names {name!r}, which does not import ({exc}): name an "
                "importable module, or set MESH_CONTRACTS='[]'"
            ) from None
    return modules
