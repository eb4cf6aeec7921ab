"""`Quota`: a process's allocator and client together, started and stopped as one."""

from __future__ import annotations

from mesh.quota.allocator import Allocator
from mesh.quota.client import QuotaClient
from mesh.settings import Settings
from mesh.topics import quota_topics
from mesh.transport.base import Transport


class Quota:
    """This process's member of the allocators' group and its quota client."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._settings = settings
        self.allocator = Allocator(transport, settings)
        self.client = QuotaClient(transport, settings)

    async def start(self) -> None:
        """Create the topics if missing, join the allocators' group, start the client."""
        await self._transport.ensure_topics(quota_topics(self._settings))
        await self.allocator.start()
        await self.client.start()

    async def stop(self) -> None:
        await self.client.stop()
        await self.allocator.stop()
