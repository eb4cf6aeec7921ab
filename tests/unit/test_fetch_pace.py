"""`FetchPace` (ADR 036) against a stand-in for aiokafka's consumer: only the attribute
it sets is read here; `tests/broker/test_kafka_adapter.py` checks the real one."""

from __future__ import annotations

from types import SimpleNamespace

from mesh.transport.kafka.pace import FetchPace


def _consumer() -> SimpleNamespace:
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=10))


def test_few_records_per_window_count_as_idle_many_as_busy() -> None:
    consumer = _consumer()
    pace = FetchPace(consumer, busy=0.01, idle=1.0, idle_after=0.0, busy_above=100)
    pace.saw(5)  # heartbeats: a window with no more than 100 records
    assert pace.idle and consumer._fetcher._fetch_max_wait_ms == 1000
    pace.saw(150)  # a stream of task events
    assert not pace.idle and consumer._fetcher._fetch_max_wait_ms == 10


def test_any_record_wakes_a_consumer_by_default() -> None:
    consumer = _consumer()
    pace = FetchPace(consumer, busy=0.01, idle=1.0, idle_after=0.0)
    pace.saw(0)
    assert pace.idle
    pace.saw(1)
    assert not pace.idle and consumer._fetcher._fetch_max_wait_ms == 10


def test_without_an_idle_wait_nothing_changes() -> None:
    consumer = _consumer()
    pace = FetchPace(consumer, busy=0.5, idle=0.5, idle_after=0.0)
    pace.saw(0)
    assert not pace.idle and consumer._fetcher._fetch_max_wait_ms == 10


def test_a_consumer_quiet_for_long_waits_longer_and_a_record_wakes_it() -> None:
    consumer = _consumer()
    pace = FetchPace(
        consumer, busy=0.01, idle=1.0, idle_after=0.0, long_idle=3.0, long_idle_after=0.0
    )
    pace.saw(0)
    assert pace.wait == 3.0 and consumer._fetcher._fetch_max_wait_ms == 3000
    pace.saw(1)
    assert pace.wait == 0.01 and consumer._fetcher._fetch_max_wait_ms == 10


def test_the_long_wait_comes_only_after_long_idle_after() -> None:
    consumer = _consumer()
    pace = FetchPace(consumer, busy=0.01, idle=1.0, idle_after=0.0, long_idle=3.0)
    pace.saw(0)  # quiet for a moment, not yet for long (the default: never)
    assert pace.wait == 1.0 and consumer._fetcher._fetch_max_wait_ms == 1000
