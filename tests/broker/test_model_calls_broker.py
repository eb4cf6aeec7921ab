"""Exactly-once model calls (tests/contract/model_behaviour.py) and their usage counted
once (tests/contract/accounting_behaviour.py) on the real broker."""

from __future__ import annotations

import pytest

from tests.broker.test_behaviour_broker import KafkaConfig
from tests.contract.accounting_behaviour import ModelUsageCountedOnceBehaviour
from tests.contract.model_behaviour import ModelJournalBehaviour

pytestmark = pytest.mark.broker


class TestKafkaModelJournal(KafkaConfig, ModelJournalBehaviour):
    pass


class TestKafkaModelUsageCountedOnce(KafkaConfig, ModelUsageCountedOnceBehaviour):
    pass
