from mesh.offsets import OffsetTracker, PartitionOffsets
from mesh.transport.base import TopicPartition


def test_commit_point_is_the_lowest_offset_in_flight() -> None:
    p = PartitionOffsets()
    for offset in range(5):
        assert p.begin(offset)
    p.finish(0)
    p.finish(2)
    p.finish(3)
    assert p.commit_point() == 1  # 1 is still running: 2 and 3 must not be committed
    p.finish(1)
    assert p.commit_point() == 4
    p.finish(4)
    assert p.commit_point() == 5


def test_redelivered_offsets_are_recognised() -> None:
    p = PartitionOffsets()
    for offset in range(4):
        p.begin(offset)
    p.finish(0)
    p.finish(2)
    p.mark_committed(p.commit_point())  # commits 1: offset 0 done
    assert not p.begin(0)  # below the commit point
    assert not p.begin(1)  # still in flight
    assert not p.begin(2)  # done above the commit point
    assert p.begin(4)


def test_tracker_reports_only_moved_commit_points_and_forgets_lost_partitions() -> None:
    tracker = OffsetTracker()
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    tracker.begin(a, 0)
    tracker.begin(b, 0)
    tracker.finish(a, 0)
    assert tracker.pending_commits() == {a: 1}
    tracker.mark_committed({a: 1})
    assert tracker.pending_commits() == {}
    tracker.forget({b})
    assert tracker.partitions() == {a}
    tracker.finish(b, 0)  # a late finish for a lost partition is ignored
    assert tracker.inflight_count() == 0
