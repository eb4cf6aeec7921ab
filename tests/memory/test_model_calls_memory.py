"""The model-call suites (tests/contract/model_behaviour.py) on the in-memory transport."""

from __future__ import annotations

from tests.contract.accounting_behaviour import ModelAccountingBehaviour
from tests.contract.model_behaviour import ModelCallBehaviour, ModelJournalBehaviour
from tests.memory.test_behaviour_memory import MemoryConfig


class TestMemoryModelCalls(MemoryConfig, ModelCallBehaviour):
    pass


class TestMemoryModelJournal(MemoryConfig, ModelJournalBehaviour):
    pass


class TestMemoryModelAccounting(MemoryConfig, ModelAccountingBehaviour):
    pass
