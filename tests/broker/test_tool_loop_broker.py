"""The tool loop's replay on a re-run (tests/contract/tool_loop_behaviour.py) on the
real broker: the journaled steps, the re-attached child and the steer read from Kafka."""

from __future__ import annotations

import pytest

from tests.broker.test_behaviour_broker import KafkaConfig
from tests.contract.tool_loop_behaviour import ToolLoopJournalBehaviour

pytestmark = pytest.mark.broker


class TestKafkaToolLoopJournal(KafkaConfig, ToolLoopJournalBehaviour):
    pass
