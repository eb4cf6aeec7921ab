"""Mesh-wide rate limits (tests/contract/rate_limit_behaviour.py) on the real broker:
the allocators' consumer group and the grants read without a group are Kafka's."""

from __future__ import annotations

import pytest

from tests.broker.test_behaviour_broker import KafkaConfig
from tests.contract.rate_limit_behaviour import RateLimitBehaviour

pytestmark = pytest.mark.broker


class TestKafkaRateLimits(KafkaConfig, RateLimitBehaviour):
    pass
