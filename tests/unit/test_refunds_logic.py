"""The refunds agent's policy (REFUND_APPROVAL_*) and triage's refund detection."""

from __future__ import annotations

import pytest

from agents.contracts import Order, OrdersFound, ReplyDrafted, TriageTicket
from agents.refunds.policy import RefundPolicy, euros
from agents.triage.refund import refund_request, with_refund_note
from mesh import SetupError


def test_the_policy_defaults_and_reads_the_environment() -> None:
    assert RefundPolicy.from_env({}) == RefundPolicy(10_000, 86_400.0, "continue")
    env = {
        "REFUND_APPROVAL_THRESHOLD_CENTS": "5000",
        "REFUND_APPROVAL_EXPIRES_IN": "90",
        "REFUND_APPROVAL_ON_EXPIRY": "halt",
    }
    policy = RefundPolicy.from_env(env)
    assert policy == RefundPolicy(5_000, 90.0, "halt")
    assert policy.needs_approval(5_001) and not policy.needs_approval(5_000)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REFUND_APPROVAL_THRESHOLD_CENTS", "100 EUR"),
        ("REFUND_APPROVAL_THRESHOLD_CENTS", "-1"),
        ("REFUND_APPROVAL_EXPIRES_IN", "0"),
        ("REFUND_APPROVAL_ON_EXPIRY", "maybe"),
    ],
)
def test_a_bad_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SetupError, match=name):
        RefundPolicy.from_env({name: value})


def _ticket(subject: str, body: str = "") -> TriageTicket:
    return TriageTicket(
        ticket_id="T-1", customer_email="katherine@example.com", subject=subject, body=body
    )


def _found(status: str = "delivered") -> OrdersFound:
    order = Order(order_id="ORD-1007", status=status, total_cents=49_650, placed_at="2024-05-16")
    return OrdersFound(customer_email="katherine@example.com", orders=[order])


def test_a_refund_of_a_found_order_is_requested_for_its_total() -> None:
    ticket = _ticket("Refund please", "The lamp of ord 1007 broke; I want my money back.")
    refund = refund_request(ticket, _found())
    assert refund is not None and refund.order_id == "ORD-1007"
    assert refund.amount_cents == 49_650 and refund.ticket_id == "T-1"
    reply = ReplyDrafted(ticket_id="T-1", category="returns", reply="Hello.")
    noted = with_refund_note(reply, refund)
    assert "refund of EUR 496.50 for order ORD-1007" in noted.reply
    assert noted.order_ids == ["ORD-1007"]


@pytest.mark.parametrize(
    ("subject", "found"),
    [
        ("Where is ORD-1007?", _found()),  # no refund asked for
        ("Refund ORD-1007", None),  # the lookup failed
        ("Refund ORD-1099", _found()),  # not this customer's order
        ("Refund ORD-1007", _found(status="refunded")),  # nothing left to refund
        ("Refund my last order", _found()),  # no order named
    ],
)
def test_no_refund_without_a_refundable_order_named(
    subject: str, found: OrdersFound | None
) -> None:
    assert refund_request(_ticket(subject), found) is None


def test_euros() -> None:
    assert euros(25_000) == "EUR 250.00" and euros(5) == "EUR 0.05"
