"""Dividing a resource's capacity among its clients by their demand (ADR 024).

Pure functions, no clock and no I/O: the allocator (mesh/quota/allocator.py) calls
`divide` for each dimension of a resource (requests per minute, tokens per minute)
whenever a client's demand changes.

The division is max-min fair within each priority band, highest band first: every
client asking for less than an equal split gets what it asks, and the rest is split
equally among the others (water-filling). A band gets only what the higher bands
left. Capacity nobody asked for is then split equally among the clients that asked
for anything, so a client whose demand was under-estimated has room to grow before
its next report. A client that asks for nothing gets nothing: an idle process holds
no capacity a busy one needs.
"""

from __future__ import annotations

from collections.abc import Mapping

Demand = Mapping[int, float]  # priority -> units per minute wanted
_EPSILON = 1e-9


def divide(capacity: float, demands: Mapping[str, Demand]) -> dict[str, float]:
    """Each client's share of `capacity` (units per minute), by priority then max-min.

    Args:
        capacity: what the resource allows, in units per minute (>= 0).
        demands: each client's wants by task priority (higher first).

    Returns:
        A share per client in `demands`; the shares sum to at most `capacity`, and to
        `capacity` whenever any client wants anything.
    """
    shares = dict.fromkeys(demands, 0.0)
    left = max(capacity, 0.0)
    priorities = sorted({p for wants in demands.values() for p, w in wants.items() if w > 0})
    for priority in reversed(priorities):
        band = {c: wants.get(priority, 0.0) for c, wants in demands.items()}
        for client, given in max_min(left, band).items():
            shares[client] += given
            left -= given
        if left <= _EPSILON:
            return shares
    asking = [c for c, wants in demands.items() if any(w > 0 for w in wants.values())]
    for client in asking:
        shares[client] += left / len(asking)
    return shares


def max_min(capacity: float, wants: Mapping[str, float]) -> dict[str, float]:
    """Max-min fair shares of `capacity` for `wants` (water-filling); a client never
    gets more than it wants, and one that wants nothing gets nothing."""
    given = dict.fromkeys(wants, 0.0)
    open_ = {c: w for c, w in wants.items() if w > 0}
    left = max(capacity, 0.0)
    while open_ and left > _EPSILON:
        equal = left / len(open_)
        satisfied = {c: w for c, w in open_.items() if w <= equal}
        if not satisfied:  # everyone left wants more than an equal split
            for client in open_:
                given[client] = equal
            return given
        for client, want in satisfied.items():
            given[client] = want
            left -= want
            del open_[client]
    return given
