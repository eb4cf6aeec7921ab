"""A changelogged table folded in memory and written back once per commit.

The supervisor folds every task event into a lease, and most tasks live for less
than a commit interval: submitted, started and ended between two commits. Writing
each change to the table's changelog (three records per task, the last a tombstone)
cost more than the fold itself. A `FoldedTable` keeps the changes in memory, parsed,
and `flush` turns them into one changelog write per key that changed: its latest
value, a tombstone for a key the changelog holds and the fold removed, and nothing
for a key that came and went between two flushes.

The recovery guarantee is the one faust gives a table written per event, because the
adapter flushes right before it commits the source offsets (mesh/supervision/app.py):
the changelog holds the fold of every event whose offset is committed, and the next
owner of a partition restores that and reads the rest again.

`store` is the table's local copy of its changelog (faust's store for the partitions
this instance owns, restored from the changelog on failover; a dict in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Generic, NamedTuple, TypeVar

V = TypeVar("V")


class ChangelogWrite(NamedTuple):
    """One record for a table's changelog: key and value (None: a tombstone)."""

    partition: int
    key: bytes
    value: bytes | None


class FoldedTable(Generic[V]):
    """Parsed values over `store`, changed in memory until `flush`.

    Args:
        store: The table's bytes, as its changelog holds them.
        parse: Bytes from the store to a value (run once per stored version).
        dump: A value to the bytes the changelog and the store keep.
    """

    def __init__(
        self,
        store: MutableMapping[bytes, bytes],
        *,
        parse: Callable[[bytes], V],
        dump: Callable[[V], bytes],
    ) -> None:
        self.store, self._parse, self._dump = store, parse, dump
        # key -> (changelog partition, new value or None: removed), since the last flush
        self._changed: dict[bytes, tuple[int, V | None]] = {}
        # key -> (the stored bytes it was parsed from, the value): a check reads every
        # lease each second, and parsing only those that changed keeps that cheap
        self._parsed: dict[bytes, tuple[bytes, V]] = {}

    def get(self, key: bytes) -> V | None:
        changed = self._changed.get(key)
        if changed is not None:
            return changed[1]
        return self._stored(key, self.store.get(key))

    def put(self, key: bytes, value: V, partition: int) -> None:
        self._changed[key] = (partition, value)

    def remove(self, key: bytes, partition: int) -> None:
        self._changed[key] = (partition, None)

    def items(self) -> list[tuple[bytes, V]]:
        """Every key and value, changes included (stale parses forgotten)."""
        stored = list(self.store.items())
        if len(self._parsed) > len(stored):
            keys = {k for k, _ in stored}
            self._parsed = {k: v for k, v in self._parsed.items() if k in keys}
        found = {k: v for k, raw in stored if (v := self._stored(k, raw)) is not None}
        for key, (_, value) in self._changed.items():
            if value is None:
                found.pop(key, None)
            else:
                found[key] = value
        return list(found.items())

    def __iter__(self) -> Iterator[bytes]:
        return iter([key for key, _ in self.items()])

    def __len__(self) -> int:
        added = sum(
            (value is not None) - (key in self.store) for key, (_, value) in self._changed.items()
        )
        return len(self.store) + added

    def flush(self) -> list[ChangelogWrite]:
        """Apply the changes to the store; the changelog records that carry them."""
        writes = []
        for key, (partition, value) in self._changed.items():
            if value is None:
                if self.store.pop(key, None) is not None:  # else: never reached the log
                    writes.append(ChangelogWrite(partition, key, None))
                continue
            data = self._dump(value)
            self.store[key] = data
            self._parsed[key] = (data, value)
            writes.append(ChangelogWrite(partition, key, data))
        self._changed.clear()
        return writes

    def _stored(self, key: bytes, raw: bytes | None) -> V | None:
        if raw is None:
            return None
        hit = self._parsed.get(key)
        if hit is not None and hit[0] is raw:
            return hit[1]
        value = self._parse(raw)
        self._parsed[key] = (raw, value)
        return value
