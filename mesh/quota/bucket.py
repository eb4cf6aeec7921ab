"""What a process enforces locally while its lease holds: token buckets, and calls
waiting for them in priority order (ADR 024).

No clock and no I/O: every method takes `now` (monotonic seconds), so tests drive
time by hand; mesh/quota/client.py runs them on the event loop's clock.

A `TokenBucket` refills at the granted rate up to one second of it (the burst), and
may go into debt: a call is admitted once the level reaches its amount or the burst,
whichever is smaller, and then takes its whole amount. So a call larger than a
second of tokens still runs (a long prompt under a small tpm share), and the debt
it leaves delays the next ones: the average rate stays the grant.

A `Gate` is one resource in one process: a bucket per dimension ("requests",
"tokens"), the lease's expiry, a pause (a provider's 429), and the calls waiting,
highest task priority first, then first come. Only the head may be admitted, so a
small low-priority call never slips ahead of a waiting high-priority one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

BURST_SECONDS = 1.0  # a bucket holds at most this many seconds of its rate


class TokenBucket:
    """Refills at `rate` units per second up to `rate * BURST_SECONDS`; may go negative."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self._level = 0.0
        self._at = now

    @property
    def burst(self) -> float:
        return self.rate * BURST_SECONDS

    def level(self, now: float) -> float:
        self._refill(now)
        return self._level

    def set_rate(self, rate: float, now: float) -> None:
        self._refill(now)
        self.rate = rate
        self._level = min(self._level, self.burst)

    def can_take(self, amount: float, now: float) -> bool:
        return self.rate > 0 and self.level(now) >= min(amount, self.burst)

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self._level -= amount

    def give_back(self, amount: float, now: float) -> None:
        """Return what a call took and did not use (negative: it used more)."""
        self._refill(now)
        self._level = min(self._level + amount, self.burst)

    def wait(self, amount: float, now: float) -> float | None:
        """Seconds until `can_take(amount)`; None while the rate is zero."""
        if self.rate <= 0:
            return None
        return max(min(amount, self.burst) - self.level(now), 0.0) / self.rate

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._level = min(self._level + (now - self._at) * self.rate, self.burst)
        self._at = max(self._at, now)


@dataclass(order=True)
class Waiter:
    """A call waiting at a gate; `future` is resolved when it is admitted."""

    order: tuple[int, int]  # (-priority, arrival): the heap's order
    priority: int = field(compare=False)
    amounts: Mapping[str, float] = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class Gate:
    """One resource's local enforcement in one process (see the module docstring)."""

    def __init__(self, dimensions: Mapping[str, float], *, window: float) -> None:
        self.limits = dict(dimensions)  # dimension -> the resource's capacity per minute
        self.buckets: dict[str, TokenBucket] = {}
        self.expires = 0.0  # the lease's end; no admission after it
        self.paused_until = 0.0
        self.granted: dict[str, float] = {}  # dimension -> units per minute, as granted
        self._waiting: list[Waiter] = []
        self._arrivals = itertools.count()
        self._window = window  # seconds of recent use reported as demand
        self._used: deque[tuple[float, int, Mapping[str, float]]] = deque()

    def grant(self, per_minute: Mapping[str, float], *, lease: float, now: float) -> None:
        """Apply a grant (units per minute per dimension) valid for `lease` seconds."""
        self.granted = {d: float(per_minute.get(d, 0.0)) for d in self.limits}
        for dimension, rate in self.granted.items():
            bucket = self.buckets.get(dimension)
            if bucket is None:
                self.buckets[dimension] = TokenBucket(rate / 60, now)
            else:
                bucket.set_rate(rate / 60, now)
        self.expires = now + lease

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def leased(self, now: float) -> bool:
        return now < self.expires and any(r > 0 for r in self.granted.values())

    def enqueue(
        self, amounts: Mapping[str, float], priority: int, future: asyncio.Future[None]
    ) -> Waiter:
        waiter = Waiter((-priority, next(self._arrivals)), priority, amounts, future)
        heapq.heappush(self._waiting, waiter)
        return waiter

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiting if not w.future.done())

    def admit(self, now: float) -> list[Waiter]:
        """Take the head waiters that fit now, in order; the caller resolves them."""
        admitted = []
        while self._waiting:
            head = self._waiting[0]
            if head.future.done():  # timed out or cancelled while waiting
                heapq.heappop(self._waiting)
                continue
            if not self._fits(head.amounts, now):
                break
            heapq.heappop(self._waiting)
            self.take(head.amounts, head.priority, now)
            admitted.append(head)
        return admitted

    def take(self, amounts: Mapping[str, float], priority: int, now: float) -> None:
        for dimension, amount in amounts.items():
            if dimension in self.buckets:
                self.buckets[dimension].take(amount, now)
        self._used.append((now, priority, amounts))

    def settle(self, taken: Mapping[str, float], used: Mapping[str, float], now: float) -> None:
        """Give back what a call took beyond what it used (take more when it used more)."""
        for dimension, amount in taken.items():
            bucket = self.buckets.get(dimension)
            if bucket is not None and dimension in used:
                bucket.give_back(amount - used[dimension], now)

    def next_check(self, now: float) -> float | None:
        """Seconds until the head waiter may fit; None: not before a new grant."""
        while self._waiting and self._waiting[0].future.done():
            heapq.heappop(self._waiting)
        if not self._waiting or not self.leased(now):
            return None
        if now < self.paused_until:
            return self.paused_until - now
        waits = [self._wait(d, a, now) for d, a in self._waiting[0].amounts.items()]
        if any(w is None for w in waits):
            return None
        return max((w for w in waits if w is not None), default=0.0)

    def demand(self, now: float) -> dict[str, dict[int, float]]:
        """Units per minute wanted, by dimension and priority: the recent use plus
        what the waiting calls need, as if to be served within the window."""
        while self._used and self._used[0][0] < now - self._window:
            self._used.popleft()
        wants: dict[str, dict[int, float]] = {d: {} for d in self.limits}
        per_minute = 60.0 / self._window
        entries = [(p, a) for _, p, a in self._used]
        entries += [(w.priority, w.amounts) for w in self._waiting if not w.future.done()]
        for priority, amounts in entries:
            for dimension, amount in amounts.items():
                if dimension in wants:
                    band = wants[dimension]
                    band[priority] = band.get(priority, 0.0) + amount * per_minute
        return wants

    def _fits(self, amounts: Mapping[str, float], now: float) -> bool:
        if not self.leased(now) or now < self.paused_until:
            return False
        return all(self.buckets[d].can_take(a, now) for d, a in amounts.items() if d in self.limits)

    def _wait(self, dimension: str, amount: float, now: float) -> float | None:
        if dimension not in self.limits:
            return 0.0
        return self.buckets[dimension].wait(amount, now)
