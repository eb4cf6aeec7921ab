"""A changelog partition faust's table recovery stalled on is read again (ADR 060)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest

from mesh.settings import Settings
from mesh.supervision import _recovery_watch
from mesh.supervision._recovery_watch import (
    MAX_RESEEKS,
    STALLED_AFTER,
    RecoveryWatch,
    refetch_dropped,
    stalled_after,
)

LEASES = "mesh.supervisor-leases-changelog"


class TP(NamedTuple):  # faust's TP is a named tuple of the same two fields
    topic: str
    partition: int


P0, P1 = TP(LEASES, 0), TP(LEASES, 1)


@dataclass
class RecoveryDouble:
    """A test double of faust's `Recovery`: what it has restored, and must reach."""

    in_recovery: bool = True
    active_offsets: dict[TP, int | None] = field(default_factory=dict)
    active_highwaters: dict[TP, int | None] = field(default_factory=dict)


class ConsumerDouble:
    """A test double of faust's consumer: records the seeks; positions as given (None:
    no position yet; a partition in `hanging` never answers, as aiokafka waits for a
    position it lacks)."""

    def __init__(self, positions: dict[TP, int | None] | None = None) -> None:
        self.positions = positions or {}
        self.seeks: list[dict[TP, int]] = []
        self.hanging: set[TP] = set()
        self.fail_seeks = False

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        if self.fail_seeks:
            raise RuntimeError("partition not assigned")
        self.seeks.append(dict(partitions))

    async def position(self, tp: TP) -> int | None:
        if tp in self.hanging:
            await asyncio.Event().wait()
        return self.positions.get(tp)


async def test_a_stalled_restore_is_read_again_from_where_it_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The consumer stands at the end (records fetched and dropped), the restore at 3."""
    recovery = RecoveryDouble(active_offsets={P0: 3, P1: 7}, active_highwaters={P0: 40, P1: 9})
    consumer, watch = ConsumerDouble({P0: 41}), RecoveryWatch()
    assert await watch.heal(recovery, consumer, now=0.0) == []
    recovery.active_offsets[P1] = 8  # partition 1 moves on; partition 0 does not
    assert await watch.heal(recovery, consumer, now=STALLED_AFTER - 0.1) == []
    assert await watch.heal(recovery, consumer, now=STALLED_AFTER) != []
    assert consumer.seeks == [{P0: 3}]  # faust skips the record at 3 it restored already
    assert (
        f"table recovery of changelog {LEASES}:0 stalled at offset 3 of 40 for 5 s "
        "(consumer position 41): reading it again from offset 3 (1 of 3)"
    ) in caplog.text


async def test_a_restore_that_read_nothing_is_read_again_from_the_start() -> None:
    recovery = RecoveryDouble(active_offsets={P1: -1}, active_highwaters={P1: 12})
    consumer, watch = ConsumerDouble(), RecoveryWatch()
    await watch.heal(recovery, consumer, now=0.0)
    await watch.heal(recovery, consumer, now=STALLED_AFTER)
    assert consumer.seeks == [{P1: 0}]  # as faust's own seek: -1, nothing yet, is 0


async def test_the_seeks_are_bounded_then_left_to_faust_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recovery = RecoveryDouble(active_offsets={P0: 5}, active_highwaters={P0: 6})
    consumer, watch = ConsumerDouble({P0: 6}), RecoveryWatch()
    await watch.heal(recovery, consumer, now=0.0)
    for n in range(1, MAX_RESEEKS + 3):
        await watch.heal(recovery, consumer, now=n * STALLED_AFTER)
    assert consumer.seeks == [{P0: 5}] * MAX_RESEEKS
    given_up = (
        f"table recovery of changelog {LEASES}:0 still stalled at offset 5 of 6 after "
        "3 re-reads (consumer position 6): left to faust"
    )
    assert caplog.text.count(given_up) == 1

    recovery.active_offsets[P0] = 4  # a new recovery from further back (another rebalance)
    await watch.heal(recovery, consumer, now=100.0)
    await watch.heal(recovery, consumer, now=100.0 + STALLED_AFTER)
    assert consumer.seeks[MAX_RESEEKS:] == [{P0: 4}]  # the count starts over


async def test_nothing_is_sought_outside_a_recovery_or_once_caught_up() -> None:
    recovery = RecoveryDouble(active_offsets={P0: 2, P1: 9}, active_highwaters={P0: 8, P1: 9})
    consumer, watch = ConsumerDouble(), RecoveryWatch()
    await watch.heal(recovery, consumer, now=0.0)
    recovery.in_recovery = False  # faust ended it (or another rebalance will restart it)
    await watch.heal(recovery, consumer, now=STALLED_AFTER)
    recovery.in_recovery = True  # the next recovery is watched afresh
    await watch.heal(recovery, consumer, now=STALLED_AFTER + 1)
    assert consumer.seeks == []
    await watch.heal(recovery, consumer, now=2 * STALLED_AFTER + 1)
    assert consumer.seeks == [{P0: 2}]  # partition 1 is restored up to its high watermark


async def test_highwaters_not_read_yet_are_not_judged() -> None:
    recovery = RecoveryDouble(active_offsets={P0: None}, active_highwaters={P0: 8})
    consumer, watch = ConsumerDouble(), RecoveryWatch()
    for now in (0.0, STALLED_AFTER, 2 * STALLED_AFTER):
        await watch.heal(recovery, consumer, now=now)
    assert consumer.seeks == []


async def test_a_failed_seek_or_a_missing_position_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_recovery_watch, "POSITION_WAIT", 0.01)
    recovery = RecoveryDouble(active_offsets={P0: 0}, active_highwaters={P0: 3})
    consumer, watch = ConsumerDouble(), RecoveryWatch()
    consumer.hanging.add(P0)
    consumer.fail_seeks = True
    await watch.heal(recovery, consumer, now=0.0)
    await watch.heal(recovery, consumer, now=STALLED_AFTER)
    assert "(consumer position none after 0 s)" in caplog.text
    assert f"changelog {LEASES}:0 not sought: RuntimeError('partition not assigned')" in (
        caplog.text
    )


def test_a_restore_is_not_taken_for_stalled_while_a_fetch_may_still_be_waiting() -> None:
    """A broker may hold a fetch for part of its wait even with data there."""
    kafka = Settings(fetch_max_wait=0.5, fetch_idle_wait=None, fetch_long_idle_wait=None)
    assert stalled_after(kafka) == STALLED_AFTER
    dev = Settings(fetch_max_wait=0.5, fetch_idle_wait=1.0, fetch_long_idle_wait=4.0)
    assert stalled_after(dev) == 8.0


class Record(NamedTuple):  # aiokafka's ConsumerRecord, the field read here
    offset: int


class FetcherDouble:
    """A test double of aiokafka's consumer in faust's consumer thread: records seeks."""

    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


@dataclass
class FlowDouble:
    """A test double of faust's consumer: its flow, and which topics are changelogs."""

    flow_active: bool

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")


EVENTS0 = TP("mesh.task.events", 0)


def test_changelog_records_fetched_while_the_flow_is_stopped_are_fetched_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """faust drops a batch that returns while its flow is stopped and seeks back only
    what has committed offsets: the changelog records are sought back here instead."""
    fetched = {P0: [Record(0), Record(1)], EVENTS0: [Record(7)], P1: []}
    fetcher = FetcherDouble()
    caplog.set_level(logging.INFO, logger=_recovery_watch.__name__)
    kept = refetch_dropped(fetcher, fetched, FlowDouble(flow_active=False))
    assert kept == {EVENTS0: [Record(7)], P1: []}  # faust's seek to committed covers events
    assert fetcher.seeks == [(P0, 0)]
    assert f"changelog records {LEASES}:0 0-1 fetched while faust's flow is stopped" in (
        caplog.text
    )


def test_records_fetched_while_the_flow_runs_are_handed_on_as_they_are() -> None:
    fetched = {P0: [Record(0), Record(1)], EVENTS0: [Record(7)]}
    fetcher = FetcherDouble()
    assert refetch_dropped(fetcher, fetched, FlowDouble(flow_active=True)) == fetched
    assert fetcher.seeks == []
