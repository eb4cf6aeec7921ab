"""Contracts of the reference application: a support desk.

Registered here, in the application, not in `schemas` (which holds the mesh's own
messages): importing this module registers them. The agents import it; the gateway
and the CLI import it through `MESH_CONTRACTS` (its default). Their JSON Schema
snapshots are committed in `agents/snapshots/` (`mesh schemas check`).

`support.ticket.created` exists in two versions to show upcasting: v1 carried a
flat `customer_email`; v2 nests the customer and adds the channel.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from schemas.redaction import sensitive
from schemas.registry import REGISTRY

TICKET_CREATED = "support.ticket.created"
REPLY_DRAFTED = "support.reply.drafted"
TRIAGE_TICKET = "triage.ticket"
KNOWLEDGE_SEARCH = "knowledge.search"
ORDERS_LOOKUP = "orders.lookup"

Category = Literal["billing", "shipping", "returns", "account", "technical", "other"]


@REGISTRY.register(TICKET_CREATED, 1)
class TicketCreatedV1(BaseModel):
    ticket_id: str
    customer_email: str = sensitive()
    subject: str
    body: str = ""


class Customer(BaseModel):
    email: str = sensitive()
    name: str = ""


@REGISTRY.register(TICKET_CREATED, 2)
class TicketCreated(BaseModel):
    """A customer opened a ticket in the upstream help-desk system."""

    ticket_id: str = Field(min_length=1)
    customer: Customer
    subject: str
    body: str = ""
    channel: Literal["email", "chat", "web", "phone"] = "email"


@REGISTRY.upcaster(TICKET_CREATED, 1)
def _ticket_created_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    upgraded = {k: v for k, v in payload.items() if k != "customer_email"}
    upgraded["customer"] = {"email": payload.get("customer_email", "")}
    return upgraded


@REGISTRY.register(TRIAGE_TICKET, 1)
class TriageTicket(BaseModel):
    """Input of the `triage` agent: one ticket to classify and answer."""

    ticket_id: str = Field(min_length=1)
    customer_email: str
    subject: str
    body: str = ""


@REGISTRY.register(KNOWLEDGE_SEARCH, 1)
class KnowledgeSearch(BaseModel):
    """Input of the `knowledge` agent: a free-text query over the knowledge base."""

    query: str = Field(min_length=1)
    limit: int = Field(default=3, ge=1, le=20)


class Article(BaseModel):
    id: str
    title: str
    score: float
    snippet: str


class KnowledgeHits(BaseModel):
    """Result of `knowledge.search`: best articles first."""

    articles: list[Article]


@REGISTRY.register(ORDERS_LOOKUP, 1)
class OrdersLookup(BaseModel):
    """Input of the `orders` agent: a customer's orders, or one order by id."""

    customer_email: str
    order_id: str | None = None


class Order(BaseModel):
    order_id: str
    status: str
    total_cents: int
    placed_at: str
    shipped_at: str | None = None
    carrier: str | None = None
    tracking: str | None = None
    items: list[str] = Field(default_factory=list)


class OrdersFound(BaseModel):
    customer_email: str
    orders: list[Order]


@REGISTRY.register(REPLY_DRAFTED, 1)
class ReplyDrafted(BaseModel):
    """The triage agent drafted an answer for a ticket."""

    ticket_id: str
    category: Category
    reply: str
    article_ids: list[str] = Field(default_factory=list)
    order_ids: list[str] = Field(default_factory=list)
    drafting: Drafting | None = None  # who drafted it and why (None: before the model)


ASSISTANT_ASK = "assistant.ask"


@REGISTRY.register(ASSISTANT_ASK, 1)
class AskAssistant(BaseModel):
    """Input of the `assistant` agent: a question for the mesh's model."""

    question: str = Field(min_length=1, max_length=4000)
    max_tokens: int = Field(default=96, ge=1, le=1024)


class AssistantAnswer(BaseModel):
    """Result of `assistant.ask`: the model's answer, which model gave it, and its tokens."""

    answer: str
    model: str
    input_tokens: int
    output_tokens: int


# -- The research desk (agents/research, agents/researcher; ADR 026) ------------------

RESEARCH_ASK = "research.ask"
RESEARCHER_INVESTIGATE = "researcher.investigate"


@REGISTRY.register(RESEARCH_ASK, 1)
class ResearchAsk(BaseModel):
    """Input of the `research` agent: a question, researched by `subagents` researchers."""

    question: str = Field(min_length=1, max_length=2000)
    subagents: int = Field(default=5, ge=5, le=10)
    focus: str | None = Field(default=None, max_length=200)


@REGISTRY.register(RESEARCHER_INVESTIGATE, 1)
class Investigate(BaseModel):
    """Input of the `researcher` agent: one subtopic of a question, and what to search."""

    question: str = Field(min_length=1, max_length=2000)
    subtopic: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=500)
    limit: int = Field(default=3, ge=1, le=10)


class Finding(BaseModel):
    """One passage of the corpus a researcher found, with what it says on the subtopic."""

    doc_id: str  # "topic#n": the n-th passage of a pydoc topic
    title: str
    passage: str
    score: float
    summary: str = ""  # the researcher's reading of it ("" : not condensed)


class Findings(BaseModel):
    """Result of `researcher.investigate`: the findings, best first."""

    subtopic: str
    query: str
    findings: list[Finding]
    read_by: Literal["model", "extractive"]
    focus: str | None = None  # the last focus it was steered to
    # What this researcher's own model calls cost (its TaskState.usage says the same).
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class Citation(BaseModel):
    doc_id: str
    passage: str


class SubagentCost(BaseModel):
    """One researcher's branch: its subtopic, how it ended and its model usage."""

    task_id: str
    subtopic: str
    status: str
    findings: int
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class ResearchReport(BaseModel):
    """Result of `research.ask`: the answer, its citations and what each branch cost."""

    question: str
    text: str
    citations: list[Citation]
    subagents: list[SubagentCost]
    plan_source: Literal["model", "fallback"]
    summary_source: Literal["model", "extractive"]
    dropped: list[str] = Field(default_factory=list)
    focus: str | None = None


# -- refunds: a person approves the large ones (issue 16, ADR 027) ---------------------

REFUNDS_ISSUE = "refunds.issue"


@REGISTRY.register(REFUNDS_ISSUE, 1)
class IssueRefund(BaseModel):
    """Input of the `refunds` agent: refund `amount_cents` of an order. One above the
    agent's threshold (REFUND_APPROVAL_THRESHOLD_CENTS) waits for a person's approval."""

    ticket_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    amount_cents: int = Field(gt=0)
    reason: str = Field(default="", max_length=2000)


class RefundResult(BaseModel):
    """Result of `refunds.issue`: whether the refund was issued, and who approved it."""

    ticket_id: str
    order_id: str
    amount_cents: int
    status: Literal["issued", "rejected", "expired"]
    refund_id: str | None = None  # its row in the refunds store, when issued
    # "expired": undecided at the expiry, or approved and expired before it was issued
    approval: Literal["not_needed", "approved", "rejected", "expired"]
    approved_by: str | None = None  # who approved or rejected it
    note: str = ""  # the approver's note


# -- Replies drafted by the model (issue 16, ADR 029) ---------------------------------


class Drafting(BaseModel):
    """How a reply was drafted: by the model, grounded, or by the template, and why.

    Attributes:
        by: "model" when a draft of the model passed the grounding check
            (agents/triage/grounding.py), "template" otherwise.
        reason: why that one was used, e.g. "no model is configured: ...".
        model: the model that answered the last request, when one was asked.
        rejected: why each rejected draft was rejected, in order.
    """

    by: Literal["model", "template"]
    reason: str
    model: str | None = None
    rejected: list[str] = Field(default_factory=list)


ReplyDrafted.model_rebuild()  # `drafting` names `Drafting`, defined after it
