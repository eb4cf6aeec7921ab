"""Fetch again the changelog records faust drops while it restores its tables (ADR 060).

After a rebalance faust restores the tables from their changelogs: it seeks each
changelog partition to where its restore stands, resumes the consumer's flow, and
waits until every partition was read up to the high watermark it measured. A fetch
begun before the rebalance can return after the seek with the sought records (aiokafka
hands out every partition's records while faust has paused them all); faust's `getmany`
drops a batch that returns while its flow is stopped and seeks back only partitions
with committed offsets, which changelog partitions have none of. aiokafka's position is
then past the records, nothing fetches them again, and the restore waits forever ("No
event received for active tp"): the supervisor, still in its rebalance, judges nothing.

- `refetch_dropped`, in faust's consumer thread: changelog records fetched while the
  flow is stopped are sought back, to be fetched again.
- `RecoveryWatch`, a backstop for drops of other kinds: while faust recovers, a
  changelog partition whose restore has not moved for `STALLED_AFTER` seconds although
  it is behind its high watermark is sought back to where the restore stands, as
  faust's own seek does, up to `MAX_RESEEKS` times without progress; the log line names
  the consumer's position (at the end: records fetched and dropped; short of it: a fetch
  that never came).

The adapter (mesh/supervision/app.py) calls both. No faust import here: the parts read
are typed as protocols.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mesh.settings import Settings

log = logging.getLogger(__name__)

# faust's restore hands a record on within milliseconds of its fetch, and a fetch waits
# at most `fetch_max_wait` (under a second) for data: 5 s without progress, behind the
# high watermark, is a fetch that will not come (faust itself only warns after 30 s).
# Never less than twice the longest a fetch may wait (`stalled_after`): a broker that
# holds a fetch for part of its wait even with data there must not look stalled.
STALLED_AFTER = 5.0
# Seeks per partition without progress: a stall from dropped records heals at the
# first. More would not help a high watermark no record reaches (an end offset that
# lags, a control record last): faust then keeps waiting, and warning, as before.
MAX_RESEEKS = 3
# How often the adapter looks; a fraction of `STALLED_AFTER`, so a stall is noticed
# within about that long, and cheap (it reads faust's counters, no request).
WATCH_EVERY = 1.0
# aiokafka answers a position at once when it has one and waits for one otherwise
# (a partition awaiting an offset reset): the log line does not wait longer than this.
POSITION_WAIT = 2.0

STALLED = (
    "table recovery of changelog %s:%d stalled at offset %d of %d for %.0f s "
    "(consumer position %s): reading it again from offset %d (%d of %d)"
)
GIVEN_UP = (
    "table recovery of changelog %s:%d still stalled at offset %d of %d after %d "
    "re-reads (consumer position %s): left to faust"
)


class Partition(Protocol):
    """faust's `TP`."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class RecoveryState(Protocol):
    """The parts of faust's `Recovery` (faust/tables/recovery.py) read here: per active
    changelog partition, the offset of the last record restored and the high watermark
    to reach (both -1 for "none"; None before faust has read them)."""

    in_recovery: bool

    @property
    def active_offsets(self) -> Mapping[Partition, int | None]: ...

    @property
    def active_highwaters(self) -> Mapping[Partition, int | None]: ...


class ChangelogConsumer(Protocol):
    """The parts of faust's consumer used here."""

    async def seek_wait(self, partitions: Mapping[Partition, int]) -> None: ...

    async def position(self, tp: Partition) -> int | None: ...


@dataclass
class _Progress:
    offset: int  # the last record restored
    highwater: int
    since: float  # when `offset` last moved (or the watch began)
    reseeks: int = 0  # seeks since then


@dataclass(frozen=True)
class Reseek:
    """A decision: read `tp` again from `offset`; `attempt` of `MAX_RESEEKS`."""

    tp: Partition
    offset: int
    restored: int
    highwater: int
    attempt: int


class RecoveryWatch:
    """Which changelog partitions faust's recovery has stalled on, and healing them."""

    def __init__(
        self, stalled_after: float = STALLED_AFTER, max_reseeks: int = MAX_RESEEKS
    ) -> None:
        self._stalled_after = stalled_after
        self._max_reseeks = max_reseeks
        self._progress: dict[Partition, _Progress] = {}

    def stalled(self, recovery: RecoveryState, now: float) -> tuple[list[Reseek], list[Reseek]]:
        """The partitions to read again now, and those given up on now (each once);
        `now` is a monotonic time."""
        if not recovery.in_recovery:
            self._progress.clear()  # the next recovery starts afresh
            return [], []
        behind = _behind(recovery)
        for tp in set(self._progress) - set(behind):
            del self._progress[tp]  # caught up, or no longer this instance's
        reseeks: list[Reseek] = []
        given_up: list[Reseek] = []
        for tp, (offset, highwater) in behind.items():
            progress = self._progress.get(tp)
            if progress is None or offset != progress.offset or highwater != progress.highwater:
                # Moved, or a new recovery (another rebalance measured new highwaters).
                self._progress[tp] = _Progress(offset, highwater, now)
                continue
            if now - progress.since < self._stalled_after:
                continue
            progress.since = now
            progress.reseeks += 1
            decision = Reseek(tp, max(offset, 0), offset, highwater, progress.reseeks)
            if progress.reseeks <= self._max_reseeks:
                reseeks.append(decision)
            elif progress.reseeks == self._max_reseeks + 1:
                given_up.append(decision)
        return reseeks, given_up

    async def heal(
        self, recovery: RecoveryState, consumer: ChangelogConsumer, now: float
    ) -> list[Reseek]:
        """Seek the partitions faust's recovery stalled on back to where it stands
        (`offset`: the last record restored, read again and skipped by faust, as its own
        seek does); returns what it sought."""
        reseeks, given_up = self.stalled(recovery, now)
        for decision in given_up:
            tp = decision.tp
            position = await _position(consumer, tp)
            args = (decision.restored, decision.highwater, self._max_reseeks, position)
            log.warning(GIVEN_UP, tp.topic, tp.partition, *args)
        for decision in reseeks:
            tp = decision.tp
            position = await _position(consumer, tp)
            log.warning(
                STALLED,
                tp.topic,
                tp.partition,
                decision.restored,
                decision.highwater,
                self._stalled_after,
                position,
                decision.offset,
                decision.attempt,
                self._max_reseeks,
            )
            try:
                await consumer.seek_wait({tp: decision.offset})
            except Exception as exc:  # revoked meanwhile: the next recovery seeks it anyway
                log.warning("changelog %s:%d not sought: %r", tp.topic, tp.partition, exc)
        return reseeks


class _Record(Protocol):
    @property
    def offset(self) -> int: ...


class _Fetcher(Protocol):
    """aiokafka's consumer, in faust's consumer thread."""

    def seek(self, tp: Any, offset: int) -> None: ...


class _FlowConsumer(Protocol):
    """faust's consumer: whether its flow runs, and which topics are changelogs."""

    flow_active: bool

    def _is_changelog_tp(self, tp: Any) -> bool: ...


def refetch_dropped(
    fetcher: _Fetcher, records: Mapping[Any, Sequence[_Record]], consumer: _FlowConsumer
) -> Mapping[Any, Sequence[_Record]]:
    """`records` as fetched for faust's `getmany`, but without the changelog records it
    would drop for good: while its flow is stopped (a rebalance) it drops a fetched
    batch and seeks back only the partitions with committed offsets, which changelog
    partitions have none of. Each is sought back to its first record instead, so it is
    fetched again once faust's recovery resumes the flow (or seeks it elsewhere).

    A fetch begun before the rebalance returns after it: aiokafka filters the records
    it hands out by faust's set of active partitions, and hands out all of them when
    that set is empty, as it is while faust pauses every partition in a rebalance.
    Runs in faust's consumer thread, where `fetcher.seek` belongs."""
    if consumer.flow_active:
        return records
    kept = dict(records)
    for tp, batch in records.items():
        if batch and consumer._is_changelog_tp(tp):
            del kept[tp]
            fetcher.seek(tp, batch[0].offset)
            log.info(
                "changelog records %s:%d %d-%d fetched while faust's flow is stopped: "
                "left to fetch again",
                tp.topic,
                tp.partition,
                batch[0].offset,
                batch[-1].offset,
            )
    return kept


def _behind(recovery: RecoveryState) -> dict[Partition, tuple[int, int]]:
    """Per active changelog partition not restored up to its high watermark: the offset
    of the last record restored and the high watermark."""
    offsets = recovery.active_offsets
    behind = {}
    for tp, highwater in recovery.active_highwaters.items():
        offset = offsets.get(tp)
        if highwater is not None and offset is not None and offset < highwater:
            behind[tp] = (offset, highwater)
    return behind


async def _position(consumer: ChangelogConsumer, tp: Partition) -> int | str:
    """The consumer's fetch position, for the log line only."""
    try:
        position = await asyncio.wait_for(consumer.position(tp), POSITION_WAIT)
    except TimeoutError:
        return f"none after {POSITION_WAIT:.0f} s"
    except Exception as exc:  # a log line's detail, not worth failing the heal
        return f"unknown: {exc!r}"
    return "none" if position is None else position


def stalled_after(settings: Settings) -> float:
    """How long a restore without progress is taken for stalled, with these settings."""
    longest = max(settings.fetch_long_idle_wait or 0.0, settings.fetch_idle_wait or 0.0)
    return max(STALLED_AFTER, 2 * longest, 2 * settings.fetch_max_wait)


def watch_recovery(app: Any, settings: Settings) -> None:
    """Heal the table recovery of `app` (the supervisor's faust app) on a faust timer."""
    watch = RecoveryWatch(stalled_after(settings))

    @app.timer(WATCH_EVERY)  # type: ignore[untyped-decorator]
    async def watch_table_recovery() -> None:
        await watch.heal(app.tables.recovery, app.consumer, time.monotonic())
