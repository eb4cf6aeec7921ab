"""Triage by meaning: the sample tickets, the rules as fallback and below the
confidence floor, and the agent classifying off its event loop."""

from __future__ import annotations

import pytest

from agents.contracts import TriageTicket
from agents.embedding import loading
from agents.embedding.encoder import Embedder
from agents.knowledge.agent import agent as knowledge_agent
from agents.orders.agent import agent as orders_agent
from agents.triage.agent import agent as triage_agent
from agents.triage.classify import classify
from agents.triage.meaning import CONFIDENCE_FLOOR, Classification, classify_by_meaning
from mesh.settings import Settings
from mesh.testing import TestMesh
from schemas.tasks import TaskStatus
from tests.unit.test_reference_agents_leave_the_loop_free import FREE, LoopWitness
from tests.unit.test_triage_logic import SAMPLE_TICKETS  # the rules pass them too

# Said without the rules' keywords: only the meaning gives these away.
NO_KEYWORDS = [
    ("You took more money than the price shown", "billing"),
    ("No updates on my shipment for a week", "shipping"),
    ("The zipper broke after one day", "returns"),
    ("Stop sending me marketing emails", "account"),
]


@pytest.fixture(autouse=True)
def embeddings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTS_EMBEDDINGS", raising=False)
    assert loading.embedder() is not None, "`make install` installs the embeddings extra"


@pytest.fixture
def embeddings_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where the extra is not installed: `embedder()` looks again and finds none."""
    monkeypatch.setattr(loading, "_found", [])
    monkeypatch.setenv("AGENTS_EMBEDDINGS", "off")


def test_the_twelve_sample_tickets_go_where_they_belong() -> None:
    got = [classify_by_meaning(subject, body) for subject, body, _ in SAMPLE_TICKETS]
    assert [c.category for c in got] == [category for _, _, category in SAMPLE_TICKETS]
    assert [c.method for c in got] == ["embeddings"] * 11 + ["rules"]  # nothing to embed


def test_meaning_routes_tickets_the_rules_cannot() -> None:
    for subject, category in NO_KEYWORDS:
        assert classify(subject, "") == "other", subject
        assert classify_by_meaning(subject, "").category == category, subject


def test_the_subject_outweighs_the_body() -> None:
    assert classify_by_meaning("Return a jacket", "I paid by card.").category == "returns"
    assert classify_by_meaning("I paid by card.", "Return a jacket").category == "billing"


def test_below_the_confidence_floor_the_rules_decide() -> None:
    # A bare payment provider's name resembles no description, but is a rule's keyword.
    classified = classify_by_meaning("Klarna?", "")
    assert classified.method == "rules" and classified.category == "billing"
    assert classified.similarity is not None and classified.similarity < CONFIDENCE_FLOOR


def test_without_embeddings_the_rules_classify(embeddings_off: None) -> None:
    for subject, body, category in SAMPLE_TICKETS:
        assert classify_by_meaning(subject, body) == Classification(category, "rules")
    assert loading.embedder() is None


async def test_triage_classifies_by_meaning_off_the_event_loop(
    memory_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = LoopWitness()
    monkeypatch.setattr(Embedder, "embed", witness.wrap("embed", Embedder.embed))
    ticket = TriageTicket(
        ticket_id="T-9",
        customer_email="ada@example.com",
        # Words no other test embeds, so the classifier has to compute them here.
        subject="You took more money than the price shown, why?",
        body="",
    )
    agents = (triage_agent, knowledge_agent, orders_agent)
    async with TestMesh(*agents, settings=memory_settings) as mesh:
        task_id = await mesh.client.submit("triage", ticket)
        state = await mesh.client.wait(task_id, timeout=60)

    assert state.status is TaskStatus.SUCCEEDED, state.error
    assert state.result is not None and state.result["category"] == "billing"  # rules: other
    (classified,) = [p.data for p in state.progress if p.message == "classified"]
    assert classified["by"] == "embeddings" and classified["category"] == "billing"
    assert witness.calls and all(where == FREE for _, where in witness.calls), witness.calls
