"""Where a ticket's time goes in the reference pipeline: every write and fetch, per step.

`python -m tests.bench.idle_timeline [TICKETS]` starts `mesh dev` as the `idle` bench
does, with each child (and this process, the publisher of the tickets) recording each
write its transport hands to the producer (when, and when the broker acknowledged it)
and each fetch its consumers return (when, and which records), through a
`sitecustomize` on the children's path. It then sends tickets one at a time (the next
when the last one's triage task ended) and at the `idle` bench's rate (5 a second),
and prints, per step of a ticket, the median milliseconds: from the ticket's publish
through triage's adoption, its handler's writes, the children's fetch, run and reply,
to triage's last write; and how late a 10 ms timer fires on each process's event loop
meanwhile (the loop's other work before an acknowledgement or a fetch is handled; the
probe's own wakeups add a little). Diagnostic: not in `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

_SITECUSTOMIZE = "import tests.bench.idle_timeline as _t; _t.install_from_environment()\n"
_LOG_DIR = "BENCH_TIMELINE_DIR"
_ADOPTION_NAMESPACE = uuid.UUID("6f1d3c1e-8a8e-4c55-9b51-6a1f0b7f3a10")  # mesh/runtime/_handoff.py

Row = dict[str, Any]


def install_from_environment() -> None:
    """In a child: record this process's writes and fetches when `_LOG_DIR` is set."""
    directory = os.environ.get(_LOG_DIR)
    if directory:
        install(Path(directory) / f"{os.getpid()}.jsonl")


def install(log: Path) -> None:
    import orjson

    from mesh.transport.kafka import _writer, adapter
    from tests.bench.idle_requests import role_of

    out = log.open("a", buffering=1)
    role = role_of(sys.argv)

    def described(topic: str, headers: Any, value: bytes | None) -> list[str]:
        get = headers.get
        names = ("mesh-id", "mesh-type", "mesh-task-id", "mesh-root-task-id")
        row = [topic.split(".", 1)[-1], *((get(n) or b"").decode() for n in names)]
        what = row[2]
        if topic.endswith(".journal"):
            what = "journal " + str(orjson.loads(value or b"{}").get("kind"))
        elif what == "mesh.task.event":
            what = "event " + str(orjson.loads(value or b"{}")["payload"].get("kind"))
        elif what == "mesh.task.state":
            what = "state " + str(orjson.loads(value or b"{}")["payload"].get("status"))
        return [*row, what]

    write = _writer.ProducerWriter.write

    probing: list[asyncio.Task[None]] = []

    async def probe_loop_lag() -> None:
        """How late a 10 ms timer fires on this process's loop (its other work first),
        written once a second."""
        late: list[float] = []
        while True:
            began = time.monotonic()
            await asyncio.sleep(0.01)
            late.append((time.monotonic() - began - 0.01) * 1000)
            if len(late) >= 100:
                out.write(json.dumps({"lag": time.time(), "ms": late, "who": role}) + "\n")
                late = []

    def recording_write(self: Any, records: Any) -> Any:
        if not probing:  # on the loop now: probe it from here on
            probing.append(asyncio.get_running_loop().create_task(probe_loop_lag()))
        began = time.time()
        done = write(self, records)
        rows = [described(r.topic, r.headers, r.value) for r in records]

        def acked(_: Any) -> None:
            out.write(json.dumps({"w": began, "ack": time.time(), "r": rows}) + "\n")

        done.add_done_callback(acked)
        return done

    fetch = adapter.KafkaConsumer.fetch

    async def recording_fetch(self: Any, *, timeout: float, max_records: int) -> Any:
        deliveries = await fetch(self, timeout=timeout, max_records=max_records)
        if deliveries:
            rows = [described(d.topic, d.headers, d.value) for d in deliveries]
            group = self._group or "-"
            out.write(json.dumps({"f": time.time(), "g": group, "r": rows}) + "\n")
        return deliveries

    _writer.ProducerWriter.write = recording_write  # type: ignore[method-assign]
    adapter.KafkaConsumer.fetch = recording_fetch  # type: ignore[method-assign]


async def record(
    tickets: int,
) -> tuple[list[Row], dict[str, list[str]], dict[str, tuple[float, float]]]:
    from mesh.client import Client
    from tests.bench import idle  # not at the top: every child imports this module

    with tempfile.TemporaryDirectory(prefix="bench-idle-timeline-") as directory:
        scratch = Path(directory)
        (scratch / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        (scratch / "log").mkdir()
        path = os.pathsep.join([str(scratch), str(Path.cwd()), os.environ.get("PYTHONPATH", "")])
        os.environ |= {"PYTHONPATH": path, _LOG_DIR: str(scratch / "log")}
        install(scratch / "log" / "bench.jsonl")
        namespace = f"idle{uuid.uuid4().hex[:8]}"
        dev, log = idle.start_dev(scratch, namespace)
        runs: dict[str, list[str]] = {"one at a time": [], "5 a second": []}
        windows: dict[str, tuple[float, float]] = {}
        try:
            await idle.wait_ready(dev, log)
            await asyncio.sleep(idle.SETTLE)
            settings = idle._dev_settings(scratch, namespace)
            async with Client.from_settings(settings) as client:
                await _one(client, 0)  # warms up: MiniLM loads in triage
                began = time.time()
                for n in range(1, tickets + 1):
                    runs["one at a time"].append(await _one(client, n))
                    await asyncio.sleep(0.05)
                windows["one at a time"] = (began, time.time())
                sent = []
                for n in range(tickets + 1, 2 * tickets + 1):
                    sent.append(await idle._publish(client, n))
                    await asyncio.sleep(1 / 5.0)
                await idle._latencies(client, sent)
                runs["5 a second"] = [event_id for event_id, _ in sent]
                windows["5 a second"] = (sent[0][1], time.time())
        finally:
            dev.send_signal(signal.SIGINT)
            try:
                dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                dev.kill()
        rows = [json.loads(line) for f in (scratch / "log").glob("*.jsonl") for line in f.open()]
    return rows, runs, windows


async def _one(client: Any, number: int) -> str:
    from tests.bench import idle

    sent = await idle._publish(client, number)
    await idle._latencies(client, [sent])
    return str(sent[0])


def steps(rows: list[Row], event_id: str) -> dict[str, float]:
    """Milliseconds from the ticket's publish to each write (handed to the producer,
    acknowledged) and each fetch of its records, labelled by task and record."""
    from mesh.handles import child_task_id

    root = uuid.uuid5(_ADOPTION_NAMESPACE, f"triage:{event_id}").hex
    who = {root: "triage", f"adopted:{root}": "triage"}
    for n, agent in ((1, "knowledge"), (2, "orders"), (3, "refunds")):
        who[child_task_id(root, n)] = agent
    events: list[tuple[float, str]] = []
    for row in rows:
        for topic, id_, _type, task, _root, what in row.get("r", ()):
            if id_ == event_id:
                name = "ticket event"
            elif task in who:
                name = f"{who[task]}: {what}"
            else:
                continue
            if "w" in row:
                events += [(row["w"], f"{name} written"), (row["ack"], f"{name} acked")]
            else:
                events.append((row["f"], f"{name} fetched ({_short(topic)})"))
    events.sort()
    start = events[0][0]
    at: dict[str, float] = {}
    for when, name in events:
        label, n = name, 2
        while label in at:  # the task's second record of that kind
            label, n = f"{name} #{n}", n + 1
        at[label] = (when - start) * 1000
    return at


def _short(topic: str) -> str:
    return topic.removeprefix("mesh.").removeprefix("agent.")


def report(
    rows: list[Row], runs: dict[str, list[str]], windows: dict[str, tuple[float, float]]
) -> None:
    for name, event_ids in runs.items():
        table: dict[str, list[float]] = defaultdict(list)
        for event_id in event_ids:
            for step, ms in steps(rows, event_id).items():
                table[step].append(ms)
        print(f"\n{name} ({len(event_ids)} tickets): ms from the publish, median (n)")
        order = sorted(table, key=lambda s: statistics.median(table[s]))
        for step in order:
            values = table[step]
            print(f"  {statistics.median(values):8.1f}  ({len(values):3d})  {step}")
        began, ended = windows[name]
        lags: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            if "lag" in row and began <= row["lag"] <= ended:
                lags[row["who"]] += row["ms"]
        for who, late in sorted(lags.items()):
            late.sort()
            p99 = late[int(len(late) * 0.99) - 1]
            print(
                f"  loop lag of {who[:40]}: p50 {statistics.median(late):.1f} ms, p99 {p99:.1f} ms"
            )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    found, ticket_runs, ticket_windows = asyncio.run(record(count))
    report(found, ticket_runs, ticket_windows)
