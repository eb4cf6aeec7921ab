"""Budgets (tests/contract/budget_behaviour.py) on the real broker: the keepers'
consumer group, the compacted ledger and the replies read without a group are Kafka's."""

from __future__ import annotations

import pytest

from tests.broker.test_behaviour_broker import KafkaConfig
from tests.contract.budget_behaviour import BudgetBehaviour

pytestmark = pytest.mark.broker


class TestKafkaBudgets(KafkaConfig, BudgetBehaviour):
    pass
