"""The behaviour suites on the in-memory transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from mesh.settings import Settings
from mesh.testing import MemoryTransport
from mesh.transport.base import TopicPartition, Transport
from tests.contract.dlq_behaviour import DeadLetterQueueBehaviour
from tests.contract.journal_behaviour import JournalBehaviour
from tests.contract.runtime_behaviour import RuntimeBehaviour
from tests.contract.transport_behaviour import DeleteRecords, TransportBehaviour


class TestMemoryTransport(TransportBehaviour):
    @pytest.fixture
    async def transport(self) -> AsyncIterator[Transport]:
        transport = MemoryTransport()
        await transport.start()
        yield transport
        await transport.stop()

    @pytest.fixture
    def delete_records(self, transport: MemoryTransport) -> DeleteRecords:
        async def delete(tp: TopicPartition, before: int) -> None:
            transport.broker.delete_records(tp, before)

        return delete


class TestMemoryRuntime(RuntimeBehaviour):
    @pytest.fixture
    def transport_factory(self) -> Callable[[], Transport]:
        return MemoryTransport

    @pytest.fixture
    def settings(self, memory_settings: Settings) -> Settings:
        return memory_settings


class TestMemoryDeadLetterQueue(DeadLetterQueueBehaviour):
    @pytest.fixture
    def transport_factory(self) -> Callable[[], Transport]:
        return MemoryTransport

    @pytest.fixture
    def settings(self, memory_settings: Settings) -> Settings:
        return memory_settings


class TestMemoryJournal(JournalBehaviour):
    @pytest.fixture
    def transport_factory(self) -> Callable[[], Transport]:
        return MemoryTransport

    @pytest.fixture
    def settings(self, memory_settings: Settings) -> Settings:
        return memory_settings
