"""The research desk's pure parts: passages, retrieval (BM25 and the dense seam),
plan validation and fallback, steer conventions, readings and the summary check."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

import pytest

from agents.contracts import Finding
from agents.research.corpus import PASSAGE_WORDS, Passage, python_reference, split_passages
from agents.research.planner import ModelPlan, PlannedSubtopic, fallback_plan, usable_plan
from agents.research.reading import extractive_reading, usable_reading
from agents.research.retrieval import Retriever, reciprocal_rank_fusion
from agents.research.steering import Command, focused_query, matches_subtopic, parse_steer
from agents.research.synthesis import (
    cited_findings,
    extractive_summary,
    summary_request,
    usable_summary,
)
from mesh.cli._services import REFERENCE_AGENTS
from mesh.cli.support import load_agent
from mesh.dev._model import without_unmodelled
from mesh.errors import SetupError
from mesh.handles import TaskHandle, as_json
from schemas.tasks import Steer

TOPIC = """The "demo" statement
********************

Short opening paragraph.

{long}

A closing paragraph of a few words.
"""


@pytest.fixture(scope="module")
def index() -> Retriever:
    return Retriever(python_reference())


def test_topics_split_into_passages_with_stable_ids() -> None:
    long = " ".join(f"word{n}" for n in range(PASSAGE_WORDS * 2 + 10))
    passages = split_passages("demo", TOPIC.format(long=long))
    assert [p.doc_id for p in passages] == ["demo#0", "demo#1", "demo#2"]
    assert {p.title for p in passages} == {'The "demo" statement'}
    assert passages[0].text.startswith("Short opening paragraph. word0 word1")  # merged
    assert len(passages[0].text.split()) == PASSAGE_WORDS  # a window of a long one
    assert passages[-1].text.endswith("A closing paragraph of a few words.")
    assert "****" not in " ".join(p.text for p in passages)


def test_the_python_reference_is_cut_into_about_a_thousand_passages() -> None:
    passages = python_reference()
    assert len({p.topic for p in passages}) == 79
    assert len({p.doc_id for p in passages}) == len(passages) > 900
    assert python_reference() is passages  # built once


def test_bm25_alone_finds_the_yield_statement(index: Retriever) -> None:
    hits = index.search("yield statement generator", limit=3)
    assert not index.hybrid and hits[0].doc_id.startswith("yield#")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    again = index.search("yield statement generator", limit=3, exclude=frozenset({hits[0].doc_id}))
    assert again[0].doc_id == hits[1].doc_id


class FakeDenseRanker:
    """A TEST DOUBLE for an embedder: fixed scores, one per passage, in corpus order."""

    def __init__(self, scores: Sequence[float]) -> None:
        self.scores = scores
        self.calls = 0

    def __call__(self, query: str, texts: Sequence[str], /) -> Sequence[float]:
        self.calls += 1
        return self.scores


def test_a_dense_ranker_is_fused_with_bm25_by_reciprocal_rank() -> None:
    texts = [
        "A yield expression makes a generator function.",
        "The yield statement.",
        "Loops run their body again.",
        "Iterators produce their values lazily, one at a time.",  # no shared word
    ]
    passages = [Passage(f"t#{n}", "t", "T", text) for n, text in enumerate(texts)]
    lexical = Retriever(passages).search("yield generator", limit=3)
    dense = FakeDenseRanker([0.1, 0.2, 0.0, 0.9])  # ranks t#3, t#1, t#0, t#2
    hybrid = Retriever(passages, dense=dense)
    fused = hybrid.search("yield generator", limit=3)
    assert [h.doc_id for h in lexical] == ["t#0", "t#1"]
    # t#0: 1/61 + 1/63 > t#1: 1/62 + 1/62 > t#3: 1/61 (the dense ranking's alone)
    assert [h.doc_id for h in fused] == ["t#0", "t#1", "t#3"]
    assert hybrid.hybrid and dense.calls == 1
    assert fused[0].score == pytest.approx(round(1 / 61 + 1 / 63, 4))


def test_reciprocal_rank_fusion_adds_one_over_k_plus_rank() -> None:
    fused = reciprocal_rank_fusion([[(1, 9.0), (2, 5.0)], [(2, 0.9), (3, 0.8)]], k=60)
    assert [doc for doc, _ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_a_dense_ranker_must_score_every_passage() -> None:
    retriever = Retriever(python_reference(), dense=lambda query, texts: [1.0])
    with pytest.raises(ValueError, match="gave 1 scores for"):
        retriever.search("yield")


def plan(*entries: tuple[str, str]) -> ModelPlan:
    return ModelPlan(subtopics=[PlannedSubtopic(subtopic=s, query=q) for s, q in entries])


def test_a_model_plan_is_used_only_with_enough_distinct_subtopics_that_find_passages(
    index: Retriever,
) -> None:
    good = [("Yield", "yield"), ("Return", "return statement"), ("Async", "async def")]
    assert usable_plan(plan(*good), wanted=3, retriever=index) == plan(*good).subtopics
    assert usable_plan(plan(*good, ("More", "lambda")), wanted=3, retriever=index) == (
        plan(*good).subtopics
    )
    duplicated = [*good[:2], ("yield", "yield expression")]
    assert usable_plan(plan(*duplicated), wanted=3, retriever=index) is None
    unknown = [*good[:2], ("Qux", "zzxq qwrt")]
    assert usable_plan(plan(*unknown), wanted=3, retriever=index) is None


def test_the_fallback_plan_is_deterministic_and_as_large_as_asked(index: Retriever) -> None:
    first = fallback_plan("How do generators work?", wanted=7, retriever=index)
    assert first == fallback_plan("How do generators work?", wanted=7, retriever=index)
    assert len(first) == len({p.subtopic for p in first}) == 7
    assert 'The "yield" statement' in {p.subtopic for p in first}
    nonsense = fallback_plan("zzxq qwrt", wanted=5, retriever=index)
    assert len(nonsense) == 5  # widened to any topic rather than fewer researchers


@pytest.mark.parametrize(
    ("steer", "command"),
    [
        (Steer(text="focus on generators"), Command("focus", "generators")),
        (Steer(text="Focus: async generators."), Command("focus", "async generators")),
        (Steer(text="DROP exceptions"), Command("drop", "exceptions")),
        (Steer(data={"focus": "coroutines"}), Command("focus", "coroutines")),
        (Steer(text="focus on a", data={"drop": "b"}), Command("drop", "b")),
        (Steer(text="please hurry"), None),
        (Steer(data={"focus": "  "}), None),
    ],
)
def test_steer_conventions(steer: Steer, command: Command | None) -> None:
    assert parse_steer(steer) == command


def test_drop_names_a_subtopic_by_its_words_and_focus_leads_the_query() -> None:
    assert matches_subtopic("async generators", "Asynchronous generators") is False
    assert matches_subtopic("the yield", 'The "yield" statement')
    assert not matches_subtopic("", "anything")
    assert focused_query("yield", "coroutines") == "coroutines yield"
    assert focused_query("yield", None) == "yield"


def test_a_reading_is_kept_only_when_it_speaks_of_its_passage() -> None:
    passage = "A generator function returns an iterator. It runs until yield."
    assert usable_reading("The generator returns an iterator lazily.", passage)
    assert usable_reading("ok", passage) is None  # too short
    assert usable_reading("Bananas are yellow and tasty fruit.", passage) is None
    assert extractive_reading(passage, "yield runs") == "It runs until yield."


def finding(doc_id: str) -> Finding:
    return Finding(doc_id=doc_id, title="t", passage=f"text of {doc_id}", score=1.0)


def test_citations_take_turns_across_branches_and_a_summary_must_cite_one() -> None:
    cited = cited_findings([[finding("a#0"), finding("a#1")], [finding("a#0"), finding("b#0")]])
    assert [f.doc_id for f in cited] == ["a#0", "a#1", "b#0"]
    assert usable_summary(
        "Generators produce their values lazily, one at a time, when iterated [a#1].", cited
    )
    assert (
        usable_summary(
            "Generators produce their values lazily, one at a time, when iterated [z#9].", cited
        )
        is None
    )
    assert extractive_summary("q", cited).endswith("text of b#0 [b#0]")


def test_a_summary_that_echoes_the_request_is_not_one() -> None:
    long = Finding(
        doc_id="yield#1",
        title="t",
        passage="Yield expressions and statements are only used when defining a generator "
        "function, and only in the body of the generator function.",
        score=1.0,
    )
    request = summary_request("How do generators work?", [long])
    assert usable_summary(request, [long]) is None  # the request itself, cited ids and all
    copied = f"As the reference says [yield#1]: {long.passage}"
    assert usable_summary(copied, [long]) is None
    summary = "A generator function yields values lazily, one by one [yield#1]."
    assert usable_summary(summary, [long]) == summary


async def test_a_handle_not_made_by_delegate_cannot_be_steered() -> None:
    outcome = asyncio.get_running_loop().create_future()
    handle = TaskHandle("t1", "researcher", outcome, as_json)
    with pytest.raises(SetupError, match="not made by"):
        await handle.steer("focus on x")


def test_the_dev_mesh_runs_the_research_desk_even_without_a_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("MESH_MODEL_ENDPOINT", "MESH_MODEL_NAME", "MESH_MODELS"):
        monkeypatch.delenv(variable, raising=False)
    specs = [s for s in REFERENCE_AGENTS if s.startswith("agents.research")]
    agents = {spec: load_agent(spec) for spec in specs}
    said = io.StringIO()
    assert without_unmodelled(agents, {}, said) == {
        "agents.research:agent": "research",
        "agents.researcher:agent": "researcher",
    }
    assert said.getvalue() == ""
