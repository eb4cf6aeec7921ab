"""The research report's text: the model's summary of the cited passages, or theirs.

Citations are the kept branches' findings, each passage once, taken in turns across
the branches (each subtopic's best first) up to `MAX_CITATIONS`. The model is asked to
answer from those passages only, citing them as [doc_id]; an answer that cites none
of them, is too short to be one, or echoes the request back (SmolLM2-135M did, in
`make dev`: its "summary" was the question and the passages) is replaced by the
extractive summary: each cited finding's reading followed by its id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agents.contracts import Citation, Finding

MAX_CITATIONS = 6
MIN_WORDS = 8
PASSAGE_WORDS_SENT = 80  # of each cited passage, in the summary request
ECHO_WORDS = 12  # a passage's first words found in the summary: copied, not summarised
SUMMARY_INSTRUCTIONS = (
    "Answer the question from the numbered passages of the Python language reference "
    "only. Cite each passage you use by its id in brackets, e.g. [yield#1]. At most "
    "five sentences."
)
_CITED = re.compile(r"\[([a-z0-9_.-]+#\d+)\]")


def cited_findings(per_branch: Sequence[Sequence[Finding]]) -> list[Finding]:
    """Findings in turns across branches (round-robin), each doc id once."""
    chosen: list[Finding] = []
    seen: set[str] = set()
    for rank in range(max((len(f) for f in per_branch), default=0)):
        for findings in per_branch:
            if rank < len(findings) and findings[rank].doc_id not in seen:
                seen.add(findings[rank].doc_id)
                chosen.append(findings[rank])
    return chosen[:MAX_CITATIONS]


def citations(findings: Sequence[Finding]) -> list[Citation]:
    return [Citation(doc_id=f.doc_id, passage=f.passage) for f in findings]


def summary_request(question: str, findings: Sequence[Finding]) -> str:
    """The user message of the summary call: the question, then the passages."""
    # Each passage clipped: a small local model reads ~1,000 prompt tokens in seconds.
    passages = "\n\n".join(f"[{f.doc_id}] {_clipped(f.passage)}" for f in findings)
    return f"Question: {question}\n\nPassages:\n{passages}"


def _clipped(passage: str) -> str:
    words = passage.split()
    return (
        passage if len(words) <= PASSAGE_WORDS_SENT else " ".join(words[:PASSAGE_WORDS_SENT]) + " …"
    )


def usable_summary(answer: str | None, findings: Sequence[Finding]) -> str | None:
    """The model's summary when it is one: some words, citing a given passage."""
    text = (answer or "").strip()
    given = {f.doc_id for f in findings}
    if len(text.split()) < MIN_WORDS or not set(_CITED.findall(text)) & given:
        return None
    if _echoes(text, findings):
        return None
    return text


def _echoes(text: str, findings: Sequence[Finding]) -> bool:
    """Whether the answer repeats the request: its layout, or a passage's opening words."""
    flat = " ".join(text.split())
    openings = (" ".join(f.passage.split()[:ECHO_WORDS]) for f in findings)
    return "Passages:" in text or any(opening in flat for opening in openings)


def extractive_summary(question: str, findings: Sequence[Finding]) -> str:
    """Each cited finding's reading with its id; a plain line when nothing was found."""
    if not findings:
        return f"No passage of the Python language reference was found for: {question}"
    return " ".join(f"{f.summary or f.passage} [{f.doc_id}]" for f in findings)
