"""The tool-loop suite (tests/contract/tool_loop_behaviour.py) on the in-memory transport."""

from __future__ import annotations

from tests.contract.tool_loop_behaviour import ToolLoopBehaviour, ToolLoopJournalBehaviour
from tests.memory.test_behaviour_memory import MemoryConfig


class TestMemoryToolLoop(MemoryConfig, ToolLoopBehaviour):
    pass


class TestMemoryToolLoopJournal(MemoryConfig, ToolLoopJournalBehaviour):
    pass
