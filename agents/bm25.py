"""BM25 ranking over any documents given as term lists, and the tokenizer it expects.

Pure and synchronous: the index is built once, and a search only touches the postings
of the query's terms. Shared by the help-centre search (agents/knowledge/search.py)
and the research desk's passages (agents/research/retrieval.py).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

K1 = 1.5
B = 0.75

_STOP_WORDS_TEXT = """
    a about after all am an and any are as at be been but by can could did do does
    for from get got had has have how i if in into is it its me my no not of on or
    our please so than that the their them then there these they this to too up us
    was we were what when where which who why will with would you your
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """Reduce a lower-case word to a crude stem so inflected forms share one term.

    Strips one of -ies/-ing/-ed/-es/-s, then a final "e" and a doubled final letter.
    The last two steps run on every word, so "charge"/"charged" and
    "ship"/"shipping" end up equal without a dictionary.

    Args:
        word: A lower-case alphanumeric token.

    Returns:
        The stem; words of three letters or fewer, and numbers, are returned unchanged.
    """
    if len(word) <= 3 or word.isdigit():
        return word
    word = _strip_suffix(word)
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1].isalpha():
        word = word[:-1]
    return word


def _strip_suffix(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s"):
        if not word.endswith(suffix) or len(word) - len(suffix) < 3:
            continue
        # "ss" is no plural (address), "eed" no past tense (speed).
        if (suffix == "s" and word.endswith("ss")) or (suffix == "ed" and word.endswith("eed")):
            return word
        return word[: -len(suffix)]
    return word


def tokenize(text: str) -> list[str]:
    """Split text into stemmed search terms.

    Args:
        text: Any free text.

    Returns:
        Lower-cased, stemmed terms in order, without punctuation or stop words.
    """
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


class BM25Index:
    """An in-memory BM25 index (k1=1.5, b=0.75) over documents given as term lists;
    documents are addressed by their position in the sequence given."""

    def __init__(self, documents: Iterable[Sequence[str]]) -> None:
        self._lengths: list[int] = []
        self._postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for index, terms in enumerate(documents):
            counts = Counter(terms)
            self._lengths.append(sum(counts.values()))
            for term, frequency in counts.items():
                self._postings[term].append((index, frequency))
        total = len(self._lengths)
        self._avg_length = sum(self._lengths) / total if total else 0.0
        # The "+1" variant of BM25's idf stays positive even for terms in most documents.
        self._idf = {
            term: math.log((total - len(docs) + 0.5) / (len(docs) + 0.5) + 1.0)
            for term, docs in self._postings.items()
        }

    def __len__(self) -> int:
        return len(self._lengths)

    def idf(self, term: str) -> float:
        """The term's inverse document frequency (0 for a term in no document)."""
        return self._idf.get(term, 0.0)

    def scores(self, terms: Iterable[str]) -> dict[int, float]:
        """The positive BM25 score of each document matching any of `terms`.

        Each distinct term counts once: repeating a word in a query should not tilt it.
        """
        scores: dict[int, float] = defaultdict(float)
        for term in set(terms):
            idf = self.idf(term)
            for index, frequency in self._postings.get(term, ()):
                norm = K1 * (1 - B + B * self._lengths[index] / self._avg_length)
                scores[index] += idf * frequency * (K1 + 1) / (frequency + norm)
        return {index: score for index, score in scores.items() if score > 0}
