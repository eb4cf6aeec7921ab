"""Support for the research desk's tests: a script for the model double that answers
the desk's calls by what they ask, and a log of task events.

`ResearchScript` is part of a TEST DOUBLE (tests/model_double.py's `responder`): the
planning call gets a fixed JSON plan (or text that is no plan), a reading call a
sentence quoting its passage's first words, the summary call a sentence citing the
first passage it was given. Researchers call in parallel, so answers go by what a
call asks, never by arrival order. `hold` keeps reading calls (of one subtopic, or
all) waiting until `release`, to catch the desk mid-work.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from mesh.topics import Topics
from mesh.transport.base import Delivery, Transport
from mesh.views.follower import TopicFollower
from schemas import decode_envelope
from schemas.tasks import TASK_EVENT
from tests.model_double import Reply

PLAN = [
    ("Generator functions", "generator function yield"),
    ("Yield expressions", "yield expression send throw"),
    ("Return in generators", "return generator StopIteration"),
    ("Asynchronous generators", "asynchronous generator async def"),
    ("Generator expressions", "generator expression parentheses"),
]
HOLD_LIMIT = 90.0  # seconds a held call waits at most (a failed test must not hang)


class ResearchScript:
    def __init__(self, *, plan: list[tuple[str, str]] | None = PLAN) -> None:
        self.plan = plan
        self.held: str | None = None  # "" holds every reading; a subtopic holds its own
        self.url = ""  # the double's, once one answers with this script
        self._released = threading.Event()

    def hold(self, subtopic: str = "") -> None:
        self.held = subtopic
        self._released.clear()

    def release(self) -> None:
        self.held = None
        self._released.set()

    def __call__(self, body: dict[str, Any]) -> Reply | None:
        system, user = _texts(body)
        if system.startswith("You plan research"):
            if self.plan is None:
                return Reply(content="Sure! Here are some ideas about generators.")
            subtopics = [{"subtopic": s, "query": q} for s, q in self.plan]
            return Reply(content=json.dumps({"subtopics": subtopics}))
        if system.startswith("You read a passage"):
            if self.held is not None and f"Subtopic: {self.held}" in user:
                self._released.wait(HOLD_LIMIT)
            passage = user.split("Passage:\n", 1)[1]
            return Reply(content=f"The passage says: {' '.join(passage.split()[:12])}.")
        if system.startswith("Answer the question"):
            first = re.search(r"\[([^\]]+#\d+)\]", user)
            cited = first.group(1) if first else "none#0"
            return Reply(content=f"Generators yield values one at a time, lazily [{cited}].")
        return None


def _texts(body: dict[str, Any]) -> tuple[str, str]:
    by_role = {m.get("role"): str(m.get("content") or "") for m in body.get("messages", [])}
    return by_role.get("system", ""), by_role.get("user", "")


class EventLog(TopicFollower):
    """The kinds of task events seen since `start`, per task id."""

    def __init__(self, transport: Transport, namespace: str) -> None:
        topics = Topics(namespace)
        super().__init__(transport, [topics.task_events], name="event-log", from_end=True)
        self.kinds: dict[str, list[str]] = {}

    def _on_record(self, record: Delivery) -> None:
        if record.value is None:
            return
        envelope = decode_envelope(record.value)
        if envelope.type == TASK_EVENT and envelope.task_id:
            self.kinds.setdefault(envelope.task_id, []).append(envelope.payload["kind"])
