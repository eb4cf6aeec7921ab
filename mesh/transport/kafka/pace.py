"""How long a consumer's fetches may wait at the broker: short while records flow,
longer once the consumer has been idle (ADR 036).

Apache Kafka answers a fetch as soon as a record arrives, so one long wait (0.5 s by
default) costs no latency and almost no CPU, and `fetch_idle_wait` is left unset. A
broker that answers only when the wait is over (the embedded one holds each fetch for
about half of it, ADR 003) forces a choice: a short wait is fast and busy (every
consumer of every process asking many times a second, while nothing happens), a long
one is idle and slow. `FetchPace` takes the short wait while records arrive and the
long one after `fetch_idle_after` seconds without any, so an idle mesh idles and a busy
one stays fast; the first record after a quiet spell waits at most the long wait.

aiokafka sends its fetches from a background task that reads the wait from its
fetcher for each request: changing that attribute takes effect from the next fetch.
aiokafka is pinned exactly (pyproject.toml) and a test checks the attribute exists.
"""

from __future__ import annotations

import time
from typing import Any

from mesh.settings import Settings


class FetchPace:
    """The fetch wait of one aiokafka consumer, by how many records it saw lately.

    Busy while more than `busy_above` records arrive per `idle_after` seconds (any
    record, by default); idle once a whole `idle_after` passes with no more than that,
    and long idle (`long_idle`, if given) once `long_idle_after` seconds pass so: a
    consumer quiet for a moment answers its next record within `idle`, one quiet for
    long fetches least often (issue 17: an idle dev mesh at 13% of a core with 1 s
    waits, 7.6% with 3 s).
    """

    def __init__(
        self,
        consumer: Any,
        *,
        busy: float,
        idle: float,
        idle_after: float,
        busy_above: int = 0,
        long_idle: float | None = None,
        long_idle_after: float = float("inf"),
    ) -> None:
        self._consumer = consumer
        self._busy_ms = int(busy * 1000)
        self._idle_ms = int(idle * 1000)
        self._long_idle_ms = int((long_idle or idle) * 1000)
        self._idle_after = idle_after
        self._long_idle_after = long_idle_after
        self._busy_above = busy_above
        self._window_start = self._busy_at = time.monotonic()  # records are counted from here
        self._records = 0
        self._wait_ms = self._busy_ms

    @classmethod
    def of(cls, consumer: Any, settings: Settings, *, busy_above: int = 0) -> FetchPace:
        """The pace the settings ask for (`fetch_max_wait`, `fetch_idle_*`, `fetch_long_idle_*`)."""
        return cls(
            consumer,
            busy=settings.fetch_max_wait,
            idle=settings.fetch_idle_wait or settings.fetch_max_wait,
            idle_after=settings.fetch_idle_after,
            busy_above=busy_above,
            long_idle=settings.fetch_long_idle_wait,
            long_idle_after=settings.fetch_long_idle_after,
        )

    @property
    def adaptive(self) -> bool:
        return max(self._idle_ms, self._long_idle_ms) > self._busy_ms

    @property
    def idle(self) -> bool:
        return self._wait_ms > self._busy_ms

    @property
    def wait(self) -> float:
        """The fetch wait now, in seconds."""
        return self._wait_ms / 1000

    def saw(self, records: int) -> None:
        """After each fetch from the consumer's buffer: `records` were returned."""
        if not self.adaptive:
            return
        now = time.monotonic()
        self._records += records
        if self._records > self._busy_above:
            self._window_start, self._busy_at, self._records = now, now, 0
            self._set(self._busy_ms)
        elif now - self._window_start >= self._idle_after:
            self._window_start, self._records = now, 0
            long = now - self._busy_at >= self._long_idle_after
            self._set(self._long_idle_ms if long else self._idle_ms)

    def _set(self, wait_ms: int) -> None:
        if wait_ms == self._wait_ms:
            return
        fetcher = getattr(self._consumer, "_fetcher", None)
        if fetcher is None:  # not started yet, or stopped: the next call tries again
            return
        fetcher._fetch_max_wait_ms = wait_ms
        self._wait_ms = wait_ms


def fetcher_recheck(settings: Settings) -> float:
    """How often aiokafka's background fetcher looks at its partitions when nothing
    wakes it (its `consumer_timeout_ms`, 0.2 s by default).

    Everything it waits for wakes it: a fetch ending, records consumed, a seek, a
    resume, a new assignment, metadata it asked for. Its timeout only made it walk
    every partition while a fetch was held (five times in a held fetch of 1 s: 41 of an
    idle `mesh run`'s 310 loop callbacks a second, ADR 054). Twice the longest a fetch
    waits: a held fetch ends first, so the re-check fires only when something went
    unsignalled; never less than aiokafka's default.
    """
    longest = max(settings.fetch_long_idle_wait or 0.0, settings.fetch_idle_wait or 0.0)
    return max(2 * longest, 2 * settings.fetch_max_wait, 0.2)
