"""Planning a research question: subtopics and their queries, from the model or not.

The model is asked for a JSON plan (`ModelPlan`); a small local model often answers
one that parses but does not help (repeated subtopics, queries of words the corpus
lacks, too few). `usable_plan` keeps a plan only when `wanted` distinct subtopics
each find at least one passage; otherwise, or when no model answers, the
deterministic `fallback_plan` researches the corpus topics that rank best for the
question (BM25/hybrid over all passages), one subtopic each.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agents.research.retrieval import Retriever

PLAN_INSTRUCTIONS = (
    "You plan research over the Python language reference. Split the user's question "
    "into {n} distinct subtopics. For each, give a short subtopic name and a search "
    'query of a few keywords. Answer only JSON: {{"subtopics": [{{"subtopic": "...", '
    '"query": "..."}}]}}'
)


class PlannedSubtopic(BaseModel):
    subtopic: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=500)


class ModelPlan(BaseModel):
    """The answer the model is asked for (its JSON schema is sent with the request)."""

    subtopics: list[PlannedSubtopic]


def plan_request(question: str, wanted: int, focus: str | None) -> str:
    """The user message of the planning call."""
    return question if not focus else f"{question}\nFocus especially on: {focus}"


def usable_plan(
    plan: ModelPlan, *, wanted: int, retriever: Retriever
) -> list[PlannedSubtopic] | None:
    """The first `wanted` distinct subtopics whose query finds a passage; None when
    fewer than `wanted` do (the plan is then not used at all: a half-model,
    half-fallback plan would be hard to explain in the report)."""
    kept: list[PlannedSubtopic] = []
    names: set[str] = set()
    for entry in plan.subtopics:
        name = " ".join(entry.subtopic.lower().split())
        if name in names or not retriever.search(entry.query, limit=1):
            continue
        names.add(name)
        kept.append(entry)
        if len(kept) == wanted:
            return kept
    return None


def fallback_plan(
    question: str, *, wanted: int, retriever: Retriever, focus: str | None = None
) -> list[PlannedSubtopic]:
    """One subtopic per corpus topic that ranks best for the question (and focus),
    its query the topic's title with the question: the same plan every time."""
    text = f"{focus} {question}" if focus else question
    topics = retriever.top_topics(text, limit=wanted)
    if len(topics) < wanted:  # a question of words the corpus lacks: widen to any topic
        everything = dict.fromkeys(p.topic for p in retriever.passages)
        topics += [t for t in everything if t not in topics][: wanted - len(topics)]
    titles = {p.topic: p.title for p in retriever.passages}
    return [
        PlannedSubtopic(subtopic=titles[topic] or topic, query=f"{titles[topic]} {text}")
        for topic in topics
    ]
