"""Whether a worker is ready (its `/readyz`, mesh/observability/probes.py): it has
joined its group and holds its assignment, its producer writes, and it is not draining.

The producer is judged by the heartbeats it already sends every
`MESH_LIVENESS_INTERVAL` s (mesh/runtime/_liveness.py): the last one was written, or
the worker cannot write its outcomes either. No extra write and no timer: readiness
is computed when a probe asks.
"""

from __future__ import annotations

import asyncio

from mesh.runtime._background_writes import BackgroundWrites
from mesh.runtime._partitions import OwnedPartitions


class WorkerHealth:
    """Readiness of one worker, read on its event loop."""

    def __init__(
        self, stopping: asyncio.Event, partitions: OwnedPartitions, background: BackgroundWrites
    ) -> None:
        self._stopping = stopping
        self._partitions = partitions
        self._background = background
        self._last_heartbeat_written: bool | None = None  # None: none sent yet

    def heartbeat_written(self, ok: bool) -> None:
        self._last_heartbeat_written = ok

    def not_ready_reason(self) -> str | None:
        """Why this worker should not count as ready; None when it is."""
        if self._background.failure is not None:
            return f"stopping: {self._background.failure}"
        if self._stopping.is_set():
            return "draining: the worker stops and hands back its tasks"
        if not self._partitions.assigned.is_set():
            return "joining its consumer group: no assignment yet"
        if not self._partitions.ready.is_set():
            return "rebalancing: loading the task journal of its new partitions"
        if self._last_heartbeat_written is None:
            return "no heartbeat written yet: the producer has not written"
        if not self._last_heartbeat_written:
            return "the producer cannot write: the last heartbeat failed"
        return None
