"""A table folded in memory: what reaches its changelog at a flush, and what does not."""

from __future__ import annotations

from mesh.supervision._folding import ChangelogWrite, FoldedTable


def _table(store: dict[bytes, bytes]) -> FoldedTable[str]:
    return FoldedTable(store, parse=bytes.decode, dump=str.encode)


def test_a_key_written_many_times_reaches_the_changelog_once_with_its_latest_value() -> None:
    store: dict[bytes, bytes] = {}
    table = _table(store)
    for value in ("submitted", "started", "progress"):
        table.put(b"t1", value, partition=3)
    assert store == {} and table.get(b"t1") == "progress"  # read through the changes
    assert table.flush() == [ChangelogWrite(3, b"t1", b"progress")]
    assert store == {b"t1": b"progress"} and table.flush() == []


def test_a_key_that_came_and_went_between_flushes_writes_nothing() -> None:
    table = _table({})
    table.put(b"t1", "started", partition=0)
    table.remove(b"t1", partition=0)
    assert table.get(b"t1") is None and list(table) == [] and len(table) == 0
    assert table.flush() == []


def test_a_stored_key_removed_is_a_tombstone_and_restored_keys_are_read() -> None:
    store = {b"t1": b"running", b"t2": b"waiting"}  # as restored from the changelog
    table = _table(store)
    table.remove(b"t1", partition=1)
    table.put(b"t3", "waiting", partition=2)
    assert sorted(table.items()) == [(b"t2", "waiting"), (b"t3", "waiting")]
    assert len(table) == 2
    assert table.flush() == [ChangelogWrite(1, b"t1", None), ChangelogWrite(2, b"t3", b"waiting")]
    assert store == {b"t2": b"waiting", b"t3": b"waiting"}
