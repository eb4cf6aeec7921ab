"""Settings profiles: small group and fetch timers for one machine and the embedded broker.

The embedded broker holds a first JoinGroup for half the session timeout and a fetch for
about half of `fetch_max_wait` even when data is there (ADR 003), so `mesh dev` ("dev")
and the test fixtures ("test") set small timers. A profile fills only what no `MESH_*`
variable sets: `load_settings(profile="dev")`, or `profile_environment` for a child
process's environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mesh.errors import SettingsError

_REFERENCE_CONTRACTS = ("agents.contracts",)  # the reference application's (agents/)

PROFILES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "dev": MappingProxyType(
            {
                "session_timeout": 6.0,
                "heartbeat_interval": 1.0,
                "fetch_max_wait": 0.01,
                "fetch_idle_wait": 1.0,  # an idle mesh idles (ADR 036)
                "fetch_long_idle_wait": 3.0,  # and one left alone for 10 s, more (ADR 056)
                "idempotent_producer": False,  # the embedded broker grants no producer ids
                "liveness_interval": 1.0,  # the supervisor notices a dead worker in seconds
                # A worker holding no task beats every 5 s (the default interval), so an
                # idle mesh does not write and fold 7 heartbeats a second (ADR 048).
                "liveness_idle_interval": 5.0,
                # Two partitions a topic: one machine, and two workers of a type can still
                # share one. The embedded broker's CPU grows with the partitions each
                # held fetch names; six made an idle mesh name ~490 a second (ADR 048).
                "partitions": 2,
                "contracts": _REFERENCE_CONTRACTS,
            }
        ),
        "test": MappingProxyType(
            {
                "session_timeout": 6.0,
                "heartbeat_interval": 1.0,
                "fetch_max_wait": 0.01,
                # An idle consumer (a fixture's gateway between tests) fetches five times
                # a second, not a hundred: the brokers were a third of the suite's CPU.
                "fetch_idle_wait": 0.2,
                "partitions": 4,
                "commit_interval": 0.1,
                "shutdown_grace": 5.0,
                "rebalance_grace": 2.0,
                # A request the broker never answers stalls its client for this long
                # (suspected once: a worker fetched nothing for 30 s after a takeover);
                # 15 s still outlasts the broker-pause fault test's 10 s SIGSTOP.
                "request_timeout": 15.0,
                "contracts": _REFERENCE_CONTRACTS,
            }
        ),
    }
)


def profile_settings(name: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The fields profile `name` sets that no `MESH_*` variable in `environ` (default:
    os.environ) sets: explicit variables win over a profile.

    Raises:
        SettingsError: no profile of that name.
    """
    if name not in PROFILES:
        raise SettingsError(f"no settings profile {name!r}; the profiles are {', '.join(PROFILES)}")
    given = {variable.upper() for variable in (os.environ if environ is None else environ)}
    return {
        field: value
        for field, value in PROFILES[name].items()
        if f"MESH_{field.upper()}" not in given
    }


def profile_environment(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Profile `name` as the `MESH_*` variables that `environ` lacks, for a child process."""
    return {
        f"MESH_{field.upper()}": _as_variable(value)
        for field, value in profile_settings(name, environ).items()
    }


def _as_variable(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple | list | dict):
        return json.dumps(value)
    return str(value)
