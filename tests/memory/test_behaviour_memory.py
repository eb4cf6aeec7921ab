"""The behaviour suites on the in-memory transport."""

from __future__ import annotations

import pytest

from mesh.settings import Settings
from mesh.testing import MemoryTransport
from mesh.transport.base import TopicPartition, Transport
from tests.contract.config import Factory, TransportConfig
from tests.contract.dlq_behaviour import DeadLetterQueueBehaviour
from tests.contract.journal_behaviour import JournalBehaviour
from tests.contract.runtime_behaviour import RuntimeBehaviour
from tests.contract.transport_behaviour import DeleteRecords, TransportBehaviour


class MemoryConfig(TransportConfig):
    @pytest.fixture
    def transport_factory(self) -> Factory:
        return MemoryTransport

    @pytest.fixture
    def settings(self, memory_settings: Settings) -> Settings:
        return memory_settings

    @pytest.fixture
    def delete_records(self, transport: Transport) -> DeleteRecords:
        assert isinstance(transport, MemoryTransport)
        broker = transport.broker

        async def delete(tp: TopicPartition, before: int) -> None:
            broker.delete_records(tp, before)

        return delete


class TestMemoryTransport(MemoryConfig, TransportBehaviour):
    pass


class TestMemoryRuntime(MemoryConfig, RuntimeBehaviour):
    pass


class TestMemoryDeadLetterQueue(MemoryConfig, DeadLetterQueueBehaviour):
    pass


class TestMemoryJournal(MemoryConfig, JournalBehaviour):
    pass
