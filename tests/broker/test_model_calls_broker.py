"""Exactly-once model calls (tests/contract/model_behaviour.py) on the real broker."""

from __future__ import annotations

import pytest

from tests.broker.test_behaviour_broker import KafkaConfig
from tests.contract.model_behaviour import ModelJournalBehaviour

pytestmark = pytest.mark.broker


class TestKafkaModelJournal(KafkaConfig, ModelJournalBehaviour):
    pass
