"""`mesh task`'s model usage table: the task's own calls and its tree's (ADR 021)."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.models.accounting import usage_total
from schemas.tasks import ModelUsage

_HEADER = ("", "AGENT", "MODEL", "CALLS", "INPUT", "CACHED", "OUTPUT", "COST USD")


def usage_table(own: Sequence[ModelUsage], tree: Sequence[ModelUsage]) -> list[str]:
    """Lines of a table: the task's own usage per agent type and model, then its tree's
    (itself and every descendant) with a total row; no lines when nothing was called."""
    if not tree:
        return []
    rows = [_row("own", line) for line in own]
    rows += [_row("tree", line) for line in tree]
    rows.append(_row("tree", usage_total(tree), agent="total", model=""))
    widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER))]
    return [_aligned(row, widths) for row in [_HEADER, *rows]]


def _row(scope: str, line: ModelUsage, *, agent: str = "", model: str = "") -> tuple[str, ...]:
    return (
        scope,
        agent or line.agent,
        model if agent else line.model,
        str(line.calls),
        str(line.input_tokens),
        str(line.cached_tokens),
        str(line.output_tokens),
        f"{line.cost_usd:.6f}",
    )


def _aligned(row: tuple[str, ...], widths: list[int]) -> str:
    text = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True)]
    numbers = [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True)]
    return "usage     " + "  ".join(text + numbers).rstrip()
