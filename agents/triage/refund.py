"""When a ticket asks for a refund of an order the `orders` lookup found, triage hands it
to the `refunds` agent (ADR 027) and says so in the reply.

Triage does not wait for the refund: above the threshold it waits for a person's
approval, which may take a day, and the customer's reply should not. The refund task
is a child of the ticket's task, so `mesh task <ticket task>` shows it; the approvals
inbox (`mesh approvals list`) shows it while it waits.
"""

from __future__ import annotations

import re
from typing import Final

from agents.contracts import IssueRefund, OrdersFound, ReplyDrafted, TriageTicket
from agents.refunds.policy import euros
from agents.triage.classify import extract_order_id

_ASKS_FOR_REFUND: Final = re.compile(r"\b(?:refund|money back)", re.IGNORECASE)
# An order already refunded or cancelled has nothing left to refund.
_REFUNDABLE: Final = frozenset({"paid", "shipped", "delivered"})


def refund_request(ticket: TriageTicket, found: OrdersFound | None) -> IssueRefund | None:
    """The refund the ticket asks for: of the order it names, when that order is the
    customer's (the lookup found it) and refundable; else None."""
    text = f"{ticket.subject} {ticket.body}"
    order_id = extract_order_id(text)
    if found is None or order_id is None or not _ASKS_FOR_REFUND.search(text):
        return None
    order = next((o for o in found.orders if o.order_id == order_id), None)
    if order is None or order.status not in _REFUNDABLE or order.total_cents <= 0:
        return None
    return IssueRefund(
        ticket_id=ticket.ticket_id,
        order_id=order.order_id,
        amount_cents=order.total_cents,
        reason=ticket.subject[:2000],
    )


def with_refund_note(reply: ReplyDrafted, refund: IssueRefund) -> ReplyDrafted:
    """The reply, telling the customer the refund is on its way (or awaits approval)."""
    note = (
        f"We have started a refund of {euros(refund.amount_cents)} for order "
        f"{refund.order_id}. Larger refunds are confirmed by a colleague first; you will "
        "hear from us as soon as it is issued."
    )
    order_ids = (
        reply.order_ids
        if refund.order_id in reply.order_ids
        else [*reply.order_ids, refund.order_id]
    )
    return reply.model_copy(update={"reply": f"{reply.reply}\n\n{note}", "order_ids": order_ids})
