"""Offset bookkeeping: tasks of one partition finish out of order, commits must not skip."""

from __future__ import annotations

from mesh.runtime._offsets import OffsetTracker, PartitionOffsets
from mesh.transport.base import TopicPartition

A = TopicPartition("inbox", 0)
B = TopicPartition("inbox", 1)


def started(*offsets: int) -> PartitionOffsets:
    p = PartitionOffsets()
    for offset in offsets:
        assert p.begin(offset)
    return p


def test_nothing_seen_commits_nothing() -> None:
    assert PartitionOffsets().commit_point() == 0


def test_commit_point_is_the_lowest_offset_still_in_flight() -> None:
    p = started(0, 1, 2, 3, 4)
    assert p.commit_point() == 0
    p.finish(3)
    p.finish(1)
    assert p.commit_point() == 0  # 0 still runs: 1 and 3 must not be committed yet
    p.finish(0)
    assert p.commit_point() == 2  # 0 and 1 done, 2 still runs
    p.finish(4)
    assert p.commit_point() == 2
    p.finish(2)
    assert p.commit_point() == 5  # everything done: next to read is 5


def test_commit_point_follows_gaps_in_the_offsets() -> None:
    # Offsets of other record kinds (finished at once) leave gaps in what we track.
    p = started(10, 14)
    p.finish(14)
    assert p.commit_point() == 10
    p.finish(10)
    assert p.commit_point() == 15


def test_finishing_an_unknown_offset_changes_nothing() -> None:
    p = started(0, 1)
    p.finish(7)
    p.finish(0)
    p.finish(0)  # twice
    assert p.inflight == {1}
    assert p.done == {0}
    assert p.commit_point() == 1


def test_redelivery_is_recognised_after_a_commit() -> None:
    p = started(0, 1, 2, 3)
    p.finish(0)
    p.finish(2)
    p.mark_committed(p.commit_point())
    assert p.committed == 1
    assert p.done == {2}  # done below the commit point is forgotten, above it is kept
    assert not p.begin(0)  # below the commit point
    assert not p.begin(1)  # still in flight here
    assert not p.begin(2)  # finished above the commit point
    assert p.begin(4)  # new


def test_marking_an_older_commit_does_not_move_back() -> None:
    p = started(0, 1, 2)
    for offset in (0, 1, 2):
        p.finish(offset)
    p.mark_committed(3)
    p.mark_committed(1)  # a late acknowledgement of an earlier commit
    assert p.committed == 3
    assert p.commit_point() == 3
    assert not p.begin(2)


def test_tracker_reports_only_commit_points_that_moved() -> None:
    tracker = OffsetTracker()
    for offset in range(3):
        assert tracker.begin(A, offset)
    assert tracker.begin(B, 0)
    assert tracker.pending_commits() == {}  # nothing finished
    tracker.finish(A, 1)
    assert tracker.pending_commits() == {}  # 0 still runs
    tracker.finish(A, 0)
    assert tracker.pending_commits() == {A: 2}
    tracker.mark_committed({A: 2})
    assert tracker.pending_commits() == {}
    assert tracker.inflight_count() == 2  # A@2 and B@0
    assert not tracker.begin(A, 1)  # re-delivery of a committed record


def test_forget_drops_lost_partitions_and_ignores_late_finishes() -> None:
    tracker = OffsetTracker()
    tracker.begin(A, 0)
    tracker.begin(B, 0)
    tracker.begin(B, 1)
    tracker.forget({B, TopicPartition("other", 3)})
    assert tracker.partitions() == {A}
    assert tracker.inflight_count() == 1
    tracker.finish(B, 0)  # a task of a lost partition ends later: no effect
    tracker.mark_committed({B: 1})
    assert tracker.partitions() == {A}
    assert tracker.pending_commits() == {}
    # When the partition comes back, its records are new to us again.
    assert tracker.begin(B, 0)
