"""`ResourceLedger`: an allocator's state for one resource, and the grants it answers.

No clock and no I/O (every method takes `now`, monotonic seconds): the allocator
service (mesh/quota/allocator.py) feeds it the reports read from its partitions and
publishes what it returns. Tests drive it by hand.

Invariant: the rates granted and still live never sum to more than the capacity.
A report gets the reporter its share (mesh/quota/share.py) capped by what the other
live grants leave; a client now holding clearly more than its share is sent a
smaller grant at once (a reduction is always safe to push), so a newcomer does not
wait for the others' next refresh. Small excesses wait for that refresh, which
keeps the grants per report from growing with the square of the clients.

A client that has not reported for a lease has no live grant and is forgotten.
A ledger made after a rebalance is *learning* for a while (Doorman's learning
mode): clients may hold leases the previous owner granted, which it cannot know, so
it only renews what each reports holding (`Demand.has`) within the capacity, and
divides by demand once every such lease has been reported (the allocator learns
for two refresh intervals: every client with a lease reports once per interval).
A pause (a provider's 429) is sent to every live client at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh.quota.messages import Demand, Grant
from mesh.quota.share import divide

_PUSH_ABOVE = 1.1  # push a smaller grant when a client holds over 110% of its share


@dataclass
class _Client:
    seen: float
    capacity: dict[str, float]
    wants: dict[str, dict[int, float]]
    granted: dict[str, float] = field(default_factory=dict)


class ResourceLedger:
    """The clients of one resource, their demand and their live grants."""

    def __init__(self, resource: str, *, lease: float, learning_until: float = 0.0) -> None:
        self.resource = resource
        self.lease = lease
        self.learning_until = learning_until
        self.paused_until = 0.0
        self.clients: dict[str, _Client] = {}

    def report(self, demand: Demand, now: float) -> list[Grant]:
        """Take a client's report; return the grants to send (its own first)."""
        self._forget_expired(now)
        client = self.clients.get(demand.client)
        if client is None:
            client = self.clients[demand.client] = _Client(now, {}, {})
            if now < self.learning_until:  # a lease granted before this ledger existed
                client.granted = dict(demand.has)
        client.seen, client.capacity, client.wants = now, dict(demand.capacity), demand.wants
        if demand.pause:
            self.paused_until = max(self.paused_until, now + demand.pause)
            return [self._grant(demand.client, now), *self._everyone_else(demand.client, now)]
        capacity = self.capacity()
        if now < self.learning_until:
            client.granted = {
                d: min(demand.has.get(d, 0.0), self._left(d, cap, demand.client))
                for d, cap in capacity.items()
            }
            return [self._grant(demand.client, now)]
        pushed: set[str] = set()
        for dimension, cap in capacity.items():
            wants = {name: c.wants.get(dimension, {}) for name, c in self.clients.items()}
            shares = divide(cap, wants)
            for name, other in self.clients.items():
                held = other.granted.get(dimension, 0.0)
                if name != demand.client and held > shares[name] * _PUSH_ABOVE:
                    other.granted[dimension] = shares[name]
                    pushed.add(name)
            left = self._left(dimension, cap, demand.client)
            client.granted[dimension] = min(shares[demand.client], left)
        return [self._grant(demand.client, now)] + [self._grant(n, now) for n in sorted(pushed)]

    def capacity(self) -> dict[str, float]:
        """Per dimension, the smallest capacity any live client reports (settings that
        differ during a roll-out err on the safe side)."""
        capacity: dict[str, float] = {}
        for client in self.clients.values():
            for dimension, value in client.capacity.items():
                capacity[dimension] = min(capacity.get(dimension, value), value)
        return capacity

    def granted(self) -> dict[str, float]:
        """The live grants' sum per dimension (never over the capacity)."""
        total: dict[str, float] = {}
        for client in self.clients.values():
            for dimension, rate in client.granted.items():
                total[dimension] = total.get(dimension, 0.0) + rate
        return total

    def _left(self, dimension: str, cap: float, excluding: str) -> float:
        others = sum(
            c.granted.get(dimension, 0.0) for n, c in self.clients.items() if n != excluding
        )
        return max(cap - others, 0.0)

    def _grant(self, name: str, now: float) -> Grant:
        client = self.clients[name]
        return Grant(
            client=name,
            resource=self.resource,
            rates=dict(client.granted),
            lease=max(client.seen + self.lease - now, 1e-3),  # what is left of its lease
            pause=max(self.paused_until - now, 0.0),
        )

    def _everyone_else(self, name: str, now: float) -> list[Grant]:
        return [self._grant(other, now) for other in sorted(self.clients) if other != name]

    def _forget_expired(self, now: float) -> None:
        for name in [n for n, c in self.clients.items() if c.seen + self.lease <= now]:
            del self.clients[name]
