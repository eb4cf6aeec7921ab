"""The behaviour suites on the real broker (embedded Tansu or MESH_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.errors import KafkaConnectionError

from mesh.settings import Settings
from mesh.transport.base import TopicPartition
from mesh.transport.kafka.adapter import KafkaTransport, client_options
from tests.contract.config import Factory, TransportConfig
from tests.contract.dlq_behaviour import DeadLetterQueueBehaviour
from tests.contract.journal_behaviour import JournalBehaviour
from tests.contract.runtime_behaviour import RuntimeBehaviour
from tests.contract.transport_behaviour import DeleteRecords, TransportBehaviour

pytestmark = pytest.mark.broker


class KafkaConfig(TransportConfig):
    @pytest.fixture
    def transport_factory(self, broker_settings: Settings) -> Factory:
        return lambda: KafkaTransport(broker_settings)

    @pytest.fixture
    def settings(self, broker_settings: Settings) -> Settings:
        return broker_settings

    @pytest.fixture
    def delete_records(self, broker_settings: Settings) -> DeleteRecords:
        """Kafka's DeleteRecords moves the log start as retention would. The embedded
        broker does not implement it (it closes the connection): there the memory
        transport's run of the same test covers the behaviour."""

        async def delete(tp: TopicPartition, before: int) -> None:
            admin = AIOKafkaAdminClient(**client_options(broker_settings))
            await admin.start()
            try:
                theirs = KafkaTopicPartition(tp.topic, tp.partition)
                await admin.delete_records({theirs: RecordsToDelete(before)}, timeout_ms=5000)
            except KafkaConnectionError:
                pytest.skip("this broker does not implement DeleteRecords (the embedded one)")
            finally:
                await admin.close()

        return delete


class TestKafkaTransport(KafkaConfig, TransportBehaviour):
    pass


class TestKafkaRuntime(KafkaConfig, RuntimeBehaviour):
    pass


class TestKafkaDeadLetterQueue(KafkaConfig, DeadLetterQueueBehaviour):
    pass


class TestKafkaJournal(KafkaConfig, JournalBehaviour):
    pass
