"""What an idle dev mesh asks of its broker: every Kafka request of every process.

`python -m tests.bench.idle_requests [SECONDS]` starts `mesh dev` as the `idle` bench
does, with each child recording every request its Kafka clients send (the same
wrapper of `AIOKafkaConnection.send` as tests/kafka_access.py, installed by a
`sitecustomize` on the children's path), and prints the requests per second over a
window with nothing submitted: by request kind, by process, and each kind of fetch
with the partitions it names. Diagnostic: not in `make bench`.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

_SITECUSTOMIZE = "import tests.bench.idle_requests as _r; _r.install_from_environment()\n"
_LOG_DIR = "BENCH_IDLE_REQUESTS_DIR"


def install_from_environment() -> None:
    """In a child: record this process's requests when `_LOG_DIR` is set."""
    directory = os.environ.get(_LOG_DIR)
    if directory:
        _install(Path(directory) / f"{os.getpid()}.jsonl", role_of(sys.argv))


def role_of(argv: list[str]) -> str:
    """What the idle bench calls a `mesh dev` child, from its command line."""
    for role in ("supervisor", "gateway", "model-server", "dev"):
        if role in argv:
            return role
    if "run" in argv:  # agents.triage:agent -> triage; several in one process: a+b
        specs = argv[argv.index("run") + 1 :]
        return "+".join(spec.split(".")[-1].split(":")[0] for spec in specs)
    return " ".join(argv)[:40]


def _install(log: Path, role: str) -> None:
    from aiokafka.conn import AIOKafkaConnection

    from tests.kafka_access import needed

    send = AIOKafkaConnection.send
    out = log.open("a", buffering=1)

    def recording_send(self: Any, request: Any, expect_response: bool = True) -> Any:
        built = request.prepare(self._versions)
        kinds = needed(request.API_KEY, built)
        row = {"t": time.time(), "role": role, "api": kinds[0][3] if kinds else request.API_KEY}
        if request.API_KEY == 1:  # Fetch: the partitions it names, and its wait
            topics = built.__dict__.get("topics") or ()
            row["partitions"] = sum(len(partitions) for _, partitions, *_ in topics)
            row["topics"] = sorted({t.split(".mesh", 1)[-1] for t, *_ in topics})
        out.write(json.dumps(row) + "\n")
        return send(self, request, expect_response)

    AIOKafkaConnection.send = recording_send  # type: ignore[method-assign]


async def record(window: float) -> tuple[list[dict[str, Any]], dict[str, float]]:
    from tests.bench import idle  # not at the top: every child imports this module

    with tempfile.TemporaryDirectory(prefix="bench-idle-requests-") as directory:
        scratch = Path(directory)
        (scratch / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        (scratch / "log").mkdir()
        path = os.pathsep.join([str(scratch), str(Path.cwd()), os.environ.get("PYTHONPATH", "")])
        os.environ |= {"PYTHONPATH": path, _LOG_DIR: str(scratch / "log")}
        dev, log = idle.start_dev(scratch, f"idle{uuid.uuid4().hex[:8]}")
        try:
            await idle.wait_ready(dev, log)
            await asyncio.sleep(idle.SETTLE)
            began = time.time()
            shares = await idle.cpu_shares(psutil.Process(dev.pid), window)
            ended = time.time()
        finally:
            dev.send_signal(signal.SIGINT)
            try:
                dev.wait(timeout=60)
            except subprocess.TimeoutExpired:
                dev.kill()
        rows = [json.loads(line) for f in (scratch / "log").glob("*.jsonl") for line in f.open()]
    return [r for r in rows if began <= r["t"] <= ended], shares


def report(rows: list[dict[str, Any]], shares: dict[str, float], window: float) -> None:
    fetches = [r for r in rows if r["api"] == "Fetch"]
    named = sum(r["partitions"] for r in fetches)
    print(f"{len(rows) / window:.1f} requests/s; fetches name {named / window:.0f} partitions/s")
    kinds = collections.Counter(r["api"] for r in rows)
    print("request/s  " + "  ".join(f"{k} {n / window:.1f}" for k, n in kinds.most_common()))
    for role in sorted({r["role"] for r in rows}):
        mine = collections.Counter(r["api"] for r in rows if r["role"] == role)
        parts = sum(r["partitions"] for r in fetches if r["role"] == role)
        each = ", ".join(f"{k} {n / window:.1f}" for k, n in mine.most_common())
        cpu = shares.get(role, 0.0)
        print(f"  {role:11s} {cpu:4.1f}% cpu  {each}; partitions {parts / window:.0f}/s")
    shapes = collections.Counter(
        (r["role"], r["partitions"], ",".join(r["topics"])) for r in fetches
    )
    for (role, parts, topics), n in shapes.most_common():
        print(f"  fetch {role:11s} {n / window:4.1f}/s naming {parts:3d}: {topics[:90]}")


if __name__ == "__main__":
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    found, cpu = asyncio.run(record(seconds))
    report(found, cpu, seconds)
