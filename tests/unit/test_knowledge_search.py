"""BM25 search over the bundled help-centre articles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.knowledge.search import HelpArticle, KnowledgeBase, stem, tokenize


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.default()


def test_bundled_articles_are_well_formed() -> None:
    raw = json.loads((Path(__file__).parents[2] / "agents/knowledge/articles.json").read_text())
    ids = [article["id"] for article in raw]
    assert len(raw) >= 20
    assert len(set(ids)) == len(ids)
    assert all(article["title"] and article["body"] and article["tags"] for article in raw)


@pytest.mark.parametrize("word", ["refund", "refunds", "refunded", "refunding"])
def test_stemmer_folds_inflections(word: str) -> None:
    assert stem(word) == "refund"


@pytest.mark.parametrize(
    ("a", "b"),
    [("charge", "charged"), ("charges", "charging"), ("ship", "shipped"), ("parcel", "parcels")],
)
def test_stemmer_makes_related_forms_equal(a: str, b: str) -> None:
    assert stem(a) == stem(b)


def test_stemmer_leaves_short_words_numbers_and_double_s_alone() -> None:
    assert stem("bus") == "bus"
    assert stem("1001") == "1001"
    assert stem("address") == stem("addresses")


def test_tokenize_lowercases_strips_punctuation_and_stop_words() -> None:
    assert tokenize("Where is MY parcel?!") == ["parcel"]
    assert tokenize("Refunds, refunded & refund.") == ["refund", "refund", "refund"]


def test_tracking_question_ranks_tracking_article_first(kb: KnowledgeBase) -> None:
    hits = kb.search("where is my parcel tracking")
    assert hits[0].id == "kb-002"
    assert hits[0].title == "Tracking your parcel"


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("refunded", "kb-005"),
        ("I was charged twice", "kb-011"),
        ("reset my password", "kb-014"),
        ("customs fees abroad", "kb-020"),
        ("item arrived damaged", "kb-007"),
        ("cancel my order", "kb-009"),
    ],
)
def test_typical_questions_find_their_article(kb: KnowledgeBase, query: str, best: str) -> None:
    assert kb.search(query)[0].id == best


def test_results_are_best_first_capped_and_rounded(kb: KnowledgeBase) -> None:
    hits = kb.search("refund return delivery payment", limit=5)
    scores = [hit.score for hit in hits]
    assert len(hits) == 5
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 and round(score, 3) == score for score in scores)
    assert len(kb.search("refund return delivery payment", limit=1)) == 1


@pytest.mark.parametrize("query", ["the of and is my", "", "?!", "zzzz unknownword"])
def test_queries_without_indexed_terms_find_nothing(kb: KnowledgeBase, query: str) -> None:
    assert kb.search(query) == []


def test_snippet_is_the_best_matching_sentence(kb: KnowledgeBase) -> None:
    hit = kb.search("authorisation hold")[0]
    assert hit.id == "kb-011"
    assert hit.snippet.startswith("If you see two charges")
    assert len(hit.snippet) <= 200


def test_title_outweighs_body() -> None:
    kb = KnowledgeBase(
        [
            HelpArticle("a-1", "Other things", "Gift wrapping is available.", ()),
            HelpArticle("a-2", "Gift wrapping", "Other things are available.", ()),
            HelpArticle("a-3", "Unrelated", "Nothing to see.", ()),
        ]
    )
    assert [hit.id for hit in kb.search("wrapping")] == ["a-2", "a-1"]


def test_ties_are_broken_by_id_and_long_snippets_truncated() -> None:
    body = "Lantern " + "very " * 60 + "bright."
    kb = KnowledgeBase([HelpArticle(i, "Lantern", body, ()) for i in ("b-2", "b-1", "b-3")])
    hits = kb.search("lantern")
    assert [hit.id for hit in hits] == ["b-1", "b-2", "b-3"]
    assert len({hit.score for hit in hits}) == 1
    assert len(hits[0].snippet) <= 200
    assert hits[0].snippet.endswith("…")


def test_from_json_reads_articles(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    article = {"id": "x-1", "title": "Loyalty points", "body": "Points expire.", "tags": ["points"]}
    path.write_text(json.dumps([article]))
    kb = KnowledgeBase.from_json(path)
    assert len(kb) == 1
    assert [hit.id for hit in kb.search("point")] == ["x-1"]
