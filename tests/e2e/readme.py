"""The README as tests read it: its sections, code blocks, and the shell commands in them.

Tests run the README's commands as a newcomer types them, so a README edit that
breaks a command fails a test instead of a newcomer.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

README = ROOT / "README.md"
_EXIT = re.compile(r"\bexit (\d+)\b")


@dataclass(frozen=True)
class Command:
    """One shell command of a code block, and what its trailing comment says."""

    text: str  # as typed, continuation lines included
    comment: str

    @property
    def expected_status(self) -> int:
        """The exit status the comment documents ("... exit 1"), else 0."""
        found = _EXIT.search(self.comment)
        return int(found.group(1)) if found else 0


def section(title: str, readme: Path = README) -> str:
    """The text under the heading `title`, up to the next heading, a subsection's too
    (a `#` line inside a code block is code, not a heading)."""
    lines = readme.read_text().splitlines(keepends=True)
    level = 0
    found: list[str] = []
    fenced = False
    for line in lines:
        heading = re.match(r"(#+) ", line) if not fenced else None
        if line.startswith("```"):
            fenced = not fenced
        if heading and level:
            break
        if level:
            found.append(line)
        elif heading and line.rstrip("\n") == f"{heading.group(1)} {title}":
            level = len(heading.group(1))
    assert level, f"README has no section {title!r}"
    return "".join(found)


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def commands(block: str) -> list[Command]:
    """The commands of a shell block: a line ending in `\\` or inside an open quote
    continues on the next; lines holding only a comment are skipped."""
    found: list[Command] = []
    pending = ""
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\") or not _quotes_closed(pending):
            continue
        text, comment = _split_comment(pending)
        found.append(Command(text.rstrip(), comment))
        pending = ""
    assert not pending, f"unfinished command in the README: {pending!r}"
    return found


def _quotes_closed(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:  # "No closing quotation"
        return False
    return True


def _split_comment(text: str) -> tuple[str, str]:
    """(command, comment): the comment starts at the first `#` outside quotes that
    follows whitespace, as the shell reads it."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            return text[:index], text[index + 1 :].strip()
    return text, ""
