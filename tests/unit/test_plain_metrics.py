"""The plain counters and histogram expose what prometheus-client's would (ADR 061)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mesh.observability.plain_metrics import PlainCounter, PlainHistogram

BUCKETS = (0.001, 0.1, 1, 30)


def _exposition(registry: CollectorRegistry) -> str:
    # `_created` holds when each child was made: the same samples, other times.
    text = generate_latest(registry).decode()
    return re.sub(r"(_created\{.*\}) \S+", r"\1 T", text)


def test_a_plain_counter_exposes_the_samples_of_a_prometheus_counter() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counters = (
        Counter("mesh_things", "Things.", ["agent", "kind"], registry=theirs),
        PlainCounter("mesh_things", "Things.", ["agent", "kind"], registry=ours),
    )
    for counter in counters:
        counter.labels("triage", "started").inc()
        counter.labels("triage", "started").inc(2.5)
        counter.labels("orders", "failed").inc()
    assert _exposition(ours) == _exposition(theirs)
    assert "mesh_things_total" in _exposition(ours)


def test_a_plain_histogram_exposes_the_samples_of_a_prometheus_histogram() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    histograms = (
        Histogram("mesh_seconds", "Time.", ["agent"], registry=theirs, buckets=BUCKETS),
        PlainHistogram("mesh_seconds", "Time.", ["agent"], registry=ours, buckets=BUCKETS),
    )
    for histogram in histograms:
        # On a bound, between bounds, below the first and past the last.
        for value in (0.001, 0.05, 0.0, 1, 29.9, 31, 1e9):
            histogram.labels("triage").observe(value)
        histogram.labels("orders").observe(0.2)
    # prometheus-client also exposes when each histogram child was made: not kept here.
    theirs_text = "\n".join(
        line for line in _exposition(theirs).splitlines() if "_created" not in line
    )
    assert _exposition(ours).strip() == theirs_text.strip()


def test_children_are_made_once_per_label_values_and_checked() -> None:
    counter = PlainCounter("mesh_checked", "Checked.", ["agent"], registry=None)
    assert counter.labels("triage") is counter.labels("triage")
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("triage", "extra")
    with pytest.raises(ValueError, match="non-negative"):
        counter.labels("triage").inc(-1)


def test_the_same_name_twice_in_a_registry_is_refused() -> None:
    registry = CollectorRegistry()
    PlainCounter("mesh_twice", "Once.", registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("mesh_twice", "Twice.", registry=registry)
