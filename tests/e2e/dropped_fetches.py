"""A fault for the supervisor's e2e tests (ADR 060): faust's consumer drops the first
records it fetches of each changelog partition after the table recovery sought it, as
faust's `getmany` does with records already fetched when its flow stops or the
generation changes while it hands them out. aiokafka's position is then past them.

Installed in a `mesh supervisor run` child by a `sitecustomize` on its path
(`environment`); the injected drops are printed to the child's log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # not from tests.conftest: a child imports this
_ENABLED = "MESH_TEST_DROP_CHANGELOG_FETCHES"
_SITECUSTOMIZE = "import tests.e2e.dropped_fetches as _f; _f.install_from_environment()\n"


def environment(scratch: Path) -> dict[str, str]:
    """The variables that install the fault in a child process (`scratch`: a directory
    for its `sitecustomize`)."""
    (scratch / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    path = os.pathsep.join([str(scratch), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {"PYTHONPATH": path, _ENABLED: "1"}


def install_from_environment() -> None:
    if os.environ.get(_ENABLED):
        install()


def install() -> None:
    """Patch faust: a changelog partition faust's recovery seeks, with records left to
    restore, loses the first batch fetched after the seek."""
    from faust.tables.recovery import Recovery
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    armed: set[tuple[str, int]] = set()  # faust's TP and aiokafka's compare as tuples
    seek_offsets = Recovery._seek_offsets
    fetch_records = AIOKafkaConsumerThread._fetch_records

    async def arming_seek_offsets(
        self: Any, consumer: Any, tps: Any, offsets: Any, title: Any
    ) -> None:
        await seek_offsets(self, consumer, tps, offsets, title)
        # Armed after the seek, while faust still pauses the partitions: the batch
        # dropped is one fetched after the seek, which nothing but a seek fetches again.
        highwaters = self.active_highwaters if title == "active" else self.standby_highwaters
        armed.update(tp for tp in tps if _behind(highwaters.get(tp), offsets.get(tp)))

    async def dropping_fetch_records(self: Any, *args: Any, **kwargs: Any) -> Any:
        records = dict(await fetch_records(self, *args, **kwargs))
        for tp in [tp for tp in records if tp in armed]:
            armed.discard(tp)
            dropped = records.pop(tp)
            first, last = dropped[0].offset, dropped[-1].offset
            print(f"test fault: dropped {tp.topic}:{tp.partition} {first}-{last}", file=sys.stderr)
        return records

    Recovery._seek_offsets = arming_seek_offsets  # type: ignore[method-assign]
    AIOKafkaConsumerThread._fetch_records = dropping_fetch_records  # type: ignore[method-assign]


def _behind(highwater: int | None, offset: int | None) -> bool:
    return highwater is not None and highwater > (-1 if offset is None else offset)
