"""`triage`: the initiator of the support-desk flow.

On `support.ticket.created` (or a submitted `triage.ticket` task) it classifies the
ticket, asks `knowledge` and `orders` in parallel, drafts a reply from whatever
came back (with the mesh's model when one is configured, held to those facts:
agents/triage/model_drafting.py; else the template), and emits `support.reply.drafted`.
A ticket asking for a refund of a known order also starts a `refunds` task
(agents/triage/refund.py).
"""

from __future__ import annotations

from agents.contracts import (
    REPLY_DRAFTED,
    KnowledgeHits,
    KnowledgeSearch,
    OrdersFound,
    OrdersLookup,
    ReplyDrafted,
    TicketCreated,
    TriageTicket,
)
from agents.triage.classify import extract_order_id
from agents.triage.drafting import knowledge_query
from agents.triage.meaning import classify_ticket
from agents.triage.model_drafting import draft_with_model
from agents.triage.refund import refund_request, with_refund_note
from agents.triage.together import alongside, side_by_side
from mesh import Agent, TaskContext, TaskHandle

agent = Agent(
    "triage",
    description="Classifies support tickets, gathers facts in parallel, drafts a reply.",
    delegates_to=["knowledge", "orders", "refunds"],
    emits=[REPLY_DRAFTED],
)


@agent.on_event
async def on_ticket_created(ctx: TaskContext, event: TicketCreated) -> ReplyDrafted:
    ticket = TriageTicket(
        ticket_id=event.ticket_id,
        customer_email=event.customer.email,
        subject=event.subject,
        body=event.body,
    )
    return await triage(ctx, ticket)


@agent.task
async def triage(ctx: TaskContext, ticket: TriageTicket) -> ReplyDrafted:
    # By meaning where embeddings are installed, by keyword rules elsewhere (meaning.py).
    classified = await classify_ticket(ticket.subject, ticket.body)
    category = classified.category
    order_id = extract_order_id(f"{ticket.subject} {ticket.body}")
    # The progress report and the two delegations are written side by side: each is a
    # durable write the broker acknowledges, none needs another's, and in turn they
    # were most of a ticket's latency (ADR 058). The children are numbered in the
    # order their delegations start, knowledge then orders, the same on every run.
    knowledge: TaskHandle[KnowledgeHits]
    orders: TaskHandle[OrdersFound]
    _, knowledge, orders = await side_by_side(
        ctx.progress(
            "classified", category=category, by=classified.method, similarity=classified.similarity
        ),
        ctx.delegate(
            "knowledge",
            KnowledgeSearch(query=knowledge_query(ticket, category)),
            result=KnowledgeHits,
        ),
        ctx.delegate(
            "orders",
            OrdersLookup(customer_email=ticket.customer_email, order_id=order_id),
            result=OrdersFound,
        ),
    )
    found_hits, found_orders = await ctx.gather(knowledge, orders, return_exceptions=True)
    # A failed lookup degrades the reply instead of failing the ticket.
    hits = None if isinstance(found_hits, BaseException) else found_hits
    orders_found = None if isinstance(found_orders, BaseException) else found_orders
    gathered = ctx.progress(
        "facts gathered",
        articles=len(hits.articles) if hits else None,
        orders=len(orders_found.orders) if orders_found else None,
    )
    async with alongside(gathered):  # written while the reply is drafted and sent
        # The model drafts, held to these facts; no model or no grounded draft: the template.
        reply = await draft_with_model(ctx, ticket, category, hits, orders_found)
        if (refund := refund_request(ticket, orders_found)) is not None:
            # Not awaited: a large refund waits for a person's approval (ADR 027).
            await ctx.delegate("refunds", refund)
            reply = with_refund_note(reply, refund)
        await ctx.emit(reply, key=ticket.ticket_id)
    return reply
