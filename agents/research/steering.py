"""How a research task is steered while it runs: "focus on X" and "drop Y".

Two conventions, the same meaning: a steer's `data` ({"focus": "generators"},
{"drop": "exceptions"}), or its plain text ("focus on generators", "drop
exceptions"; case does not matter). Data wins when both are given. Anything else is
not a research command and is ignored (the report does not change).

A focus is passed on to every researcher still working, whose next query then
includes it; a drop cancels the researchers whose subtopic matches (mesh/handles.py
`handle.cancel`) and the report lists those subtopics as dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from schemas.tasks import Steer

_TEXT = re.compile(r"^\s*(focus(?:\s+on)?|drop)\s*[:\-]?\s+(?P<what>.+?)\s*[.!]?\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Command:
    kind: Literal["focus", "drop"]
    what: str


def parse_steer(steer: Steer) -> Command | None:
    """The research command a steer carries, or None when it carries none."""
    for kind in ("focus", "drop"):
        value = steer.data.get(kind)
        if isinstance(value, str) and value.strip():
            return Command(kind, value.strip())
    matched = _TEXT.match(steer.text)
    if matched is None:
        return None
    verb = matched.group(1).lower()
    return Command("drop" if verb == "drop" else "focus", matched.group("what"))


def matches_subtopic(pattern: str, subtopic: str) -> bool:
    """Whether "drop `pattern`" names `subtopic`: all its words are in the subtopic's."""
    wanted = set(_words(pattern))
    return bool(wanted) and wanted <= set(_words(subtopic))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def focused_query(query: str, focus: str | None) -> str:
    """The query a researcher runs next: its own, with the focus's words first."""
    return f"{focus} {query}" if focus else query
