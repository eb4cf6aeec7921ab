"""Counters and a histogram counted in plain numbers, read when Prometheus scrapes.

A task's hop updates eight metrics (the request consumed, the records produced, two
transitions, the tenant's count, the handler's time). prometheus-client's `inc` is
three Python calls and a lock per update, made thread-safe for writers on several
threads; about 4% of a no-op hop's CPU (issue 17, ADR 061). Every writer of these
metrics runs on its process's one event loop thread, so a child here is one slotted
object whose `inc` adds to a number; the scrape thread only reads (a number read
while it is added to is the value before or after: a scrape is a snapshot anyway).

They register with the same registry and expose the same names, labels and samples
(`_total` and `_created` for a counter; `_bucket`, `_count`, `_sum` for a histogram)
as the prometheus-client metrics they replace; `.labels(...)` returns the child,
made once per label values.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString


class CounterChild:
    """One label set's count."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:  # as prometheus-client: a counter only goes up
            raise ValueError("counters can only be incremented by non-negative amounts")
        self.value += amount

    def get(self) -> float:
        return self.value


class HistogramChild:
    """One label set's observations, in buckets by their upper bounds (`le`)."""

    __slots__ = ("_bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds  # ascending, the last +Inf
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # The first bound >= value: a bucket counts what is less than or equal to it.
        self.counts[bisect.bisect_left(self._bounds, value)] += 1
        self.sum += value


Child = TypeVar("Child", CounterChild, HistogramChild)


class _PlainMetric(Collector, Generic[Child]):
    """What a plain counter and histogram share: a name, labels, children, the registry."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Child] = {}
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> Child:
        """The child of these label values, made on first use."""
        key = tuple(str(v) for v in values)
        if len(key) != len(self._labelnames):
            raise ValueError(f"{self._name} takes labels {self._labelnames}, got {key}")
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def _new_child(self) -> Child:
        raise NotImplementedError

    def _snapshot(self) -> list[tuple[tuple[str, ...], Child]]:
        # A copy made in one C call: the loop thread may add a child meanwhile.
        return list(self._children.items())

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def _family(self) -> Metric:
        raise NotImplementedError


class PlainCounter(_PlainMetric[CounterChild]):
    """A counter (exposed as `<name>_total`), one `CounterChild` per label set."""

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in self._snapshot():
            family.add_metric(values, child.value, created=child.created)
        yield family


class PlainHistogram(_PlainMetric[HistogramChild]):
    """A histogram, one `HistogramChild` per label set."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = REGISTRY,
        *,
        buckets: Sequence[float],
    ) -> None:
        bounds = sorted(float(b) for b in buckets)
        if bounds[-1] != float("inf"):
            bounds.append(float("inf"))
        self._bounds = tuple(bounds)
        # Bounds written as prometheus-client writes them ("1.0", "+Inf").
        self._les = [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for values, child in self._snapshot():
            cumulative, buckets = 0, []
            for le, count in zip(self._les, list(child.counts), strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            family.add_metric(values, buckets, child.sum)
        yield family
