"""The behaviour suites on the real broker (embedded Tansu or MESH_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from mesh.settings import Settings
from mesh.transport.base import Transport
from mesh.transport.kafka import KafkaTransport
from tests.contract.dlq_behaviour import DeadLetterQueueBehaviour
from tests.contract.journal_behaviour import JournalBehaviour
from tests.contract.runtime_behaviour import RuntimeBehaviour
from tests.contract.transport_behaviour import TransportBehaviour

pytestmark = pytest.mark.broker


class TestKafkaTransport(TransportBehaviour):
    @pytest.fixture
    async def transport(self, broker_settings: Settings) -> AsyncIterator[Transport]:
        transport = KafkaTransport(broker_settings)
        await transport.start()
        yield transport
        await transport.stop()


class TestKafkaRuntime(RuntimeBehaviour):
    @pytest.fixture
    def transport_factory(self, broker_settings: Settings) -> Callable[[], Transport]:
        return lambda: KafkaTransport(broker_settings)

    @pytest.fixture
    def settings(self, broker_settings: Settings) -> Settings:
        return broker_settings


class TestKafkaDeadLetterQueue(DeadLetterQueueBehaviour):
    @pytest.fixture
    def transport_factory(self, broker_settings: Settings) -> Callable[[], Transport]:
        return lambda: KafkaTransport(broker_settings)

    @pytest.fixture
    def settings(self, broker_settings: Settings) -> Settings:
        return broker_settings


class TestKafkaJournal(JournalBehaviour):
    @pytest.fixture
    def transport_factory(self, broker_settings: Settings) -> Callable[[], Transport]:
        return lambda: KafkaTransport(broker_settings)

    @pytest.fixture
    def settings(self, broker_settings: Settings) -> Settings:
        return broker_settings
