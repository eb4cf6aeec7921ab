"""Drafting a reply with the model, held to the facts found, the template behind it.

The model gets the ticket and the facts the lookups returned (agents/triage/prompt.py)
and drafts the reply; the grounding check (agents/triage/grounding.py) reads the draft.
A rejected draft is asked for once more, with the reason; a second rejection, or no
model at all, sends the template's reply (agents/triage/drafting.py) instead. Either
way `ReplyDrafted.drafting` says which was sent and why, so a reader of the event can
tell a model's words from the template's.

Triage declares no `ModelSpec`: one would make a worker without a model refuse to
start (and `mesh dev --no-model` leave triage out), while a support desk must answer
with or without one. Its calls use the mesh's model (`MESH_MODEL_*`, or `MESH_MODELS`'
"triage" entry). When none is configured `ctx.chat` raises `SetupError` before sending
anything, so the template path costs one settings look-up per ticket. A model that
fails (unavailable after its fallbacks, refusing, over a budget or the per-task call
cap) also degrades to the template: a ticket is answered either way. A short rate
limit is not caught: it retries the task.

`TRIAGE_MODEL_DRAFTS` (default 2: a draft and one retry; 0: never ask the model) is
an application knob, read when the module is imported.

Each `ctx.chat` is a durable step (ADR 020): a re-run of the task replays the drafts
and the check reaches the same verdict, so the same reply is sent and nothing is paid
twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from agents.contracts import (
    Category,
    Drafting,
    KnowledgeHits,
    OrdersFound,
    ReplyDrafted,
    TriageTicket,
)
from agents.triage.drafting import SIGN_OFF, draft_reply
from agents.triage.grounding import check_draft
from agents.triage.prompt import drafting_messages, facts_for, retry_message
from mesh import ChatMessage, ModelError, ModelRateLimited, SetupError, TaskContext

DRAFTS_VARIABLE: Final = "TRIAGE_MODEL_DRAFTS"
DEFAULT_DRAFTS: Final = 2  # the first draft and one retry with the reason it was rejected
MOST_DRAFTS: Final = 3
MAX_DRAFT_TOKENS: Final = 128  # five short sentences fit with room; a ramble is cut off


def model_drafts(environ: Mapping[str, str]) -> int:
    """How many drafts triage asks the model for per ticket: `TRIAGE_MODEL_DRAFTS`.

    Default 2 (a draft and one retry); 0 sends the template reply without asking,
    as a deployment whose model must not see tickets would (and tests that run the
    dev mesh for other reasons: the embedded model's drafts cost seconds each).

    Raises:
        SetupError: the value is not a whole number from 0 to 3 (names the variable).
    """
    raw = environ.get(DRAFTS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_DRAFTS
    if raw.isdigit() and int(raw) <= MOST_DRAFTS:
        return int(raw)
    raise SetupError(
        f"{DRAFTS_VARIABLE} must be a whole number from 0 to {MOST_DRAFTS} (0: the template "
        f"reply only; {DEFAULT_DRAFTS}, the default: a draft and one retry), got {raw!r}"
    )


# Read once, when the agent module is imported: a bad value stops `mesh run` at start-up.
MODEL_DRAFTS: Final = model_drafts(os.environ)


async def draft_with_model(
    ctx: TaskContext,
    ticket: TriageTicket,
    category: Category,
    hits: KnowledgeHits | None,
    orders: OrdersFound | None,
) -> ReplyDrafted:
    """The reply to a ticket: the model's draft when it passes the grounding check,
    else the template's.

    Args:
        ctx: The triage task's context (its `chat` is the model).
        ticket: The ticket being answered.
        category: Its category.
        hits: The knowledge search result, or None when that lookup failed.
        orders: The order lookup result, or None when that lookup failed.

    Raises:
        ModelRateLimited: the model asks to wait a short while (the task is retried).
    """
    template = draft_reply(ticket, category, hits, orders)
    if MODEL_DRAFTS == 0:
        return _templated(template, f"{DRAFTS_VARIABLE}=0: the model is not asked", None, [])
    facts = facts_for(ticket, hits, orders, template)
    messages = drafting_messages(ticket, category, facts)
    rejected: list[str] = []
    model: str | None = None
    for _ in range(MODEL_DRAFTS):
        try:
            answer = await ctx.chat(messages, max_tokens=MAX_DRAFT_TOKENS, temperature=0)
        except SetupError as exc:
            return _templated(template, f"no model is configured: {exc}", model, rejected)
        except ModelRateLimited:
            raise  # a `Retry`: the task runs again once the limit clears
        except ModelError as exc:
            reason = f"the model did not draft: {type(exc).__name__}: {exc}"
            return _templated(template, reason, model, rejected)
        model = answer.model
        draft = (answer.content or "").strip()
        verdict = check_draft(draft, facts, cut_off=answer.finish_reason == "length")
        if verdict.grounded:
            reason = "its draft passed the grounding check" + (" on the retry" if rejected else "")
            return template.model_copy(
                update={
                    "reply": f"{draft}\n\n{SIGN_OFF}",
                    "article_ids": list(verdict.article_ids),
                    "order_ids": list(verdict.order_ids),
                    "drafting": Drafting(by="model", reason=reason, model=model, rejected=rejected),
                }
            )
        rejected.append(verdict.reason)
        await ctx.progress("draft rejected", reason=verdict.reason)
        messages = [*messages, ChatMessage.assistant(draft), retry_message(verdict.reason)]
    reason = f"the model's {_drafts(MODEL_DRAFTS)} failed the grounding check"
    return _templated(template, reason, model, rejected)


def _drafts(count: int) -> str:
    return "draft" if count == 1 else f"{count} drafts"


def _templated(
    template: ReplyDrafted, reason: str, model: str | None, rejected: list[str]
) -> ReplyDrafted:
    drafting = Drafting(by="template", reason=reason, model=model, rejected=rejected)
    return template.model_copy(update={"drafting": drafting})
