"""What every contender script shares: its arguments and its timing window.

The scripts run in other virtual environments (FastStream's, Calfkit's), so this
module uses the standard library only; each script imports it as a sibling file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="host:port of the run's broker")
    parser.add_argument("--source", required=True, help="the topic of the pre-produced inputs")
    parser.add_argument("--sink", required=True, help="the topic the outputs go to")
    parser.add_argument("--group", required=True, help="the consumer group")
    parser.add_argument("--n", type=int, required=True, help="inputs to wait for")
    parser.add_argument("--concurrency", type=int, default=1000, help="handlers at once")
    parser.add_argument("--linger-ms", type=int, required=True)
    parser.add_argument("--batch-bytes", type=int, required=True)
    parser.add_argument("--fetch-wait-ms", type=int, required=True)
    parser.add_argument("--max-poll-records", type=int, required=True)
    parser.add_argument("--session-timeout-ms", type=int, required=True)
    parser.add_argument("--heartbeat-ms", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for all N")
    return parser.parse_args()


class Clock:
    """Times a contender the way tests/bench/hop.py times the mesh: from the moment it
    starts consuming (its first input handled; the group join is before it) to its
    n-th output acknowledged by the broker, with this process's CPU in that window."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.acknowledged = 0
        self.seconds = 0.0
        self.cpu = 0.0
        self._began = 0.0
        self._began_cpu = 0.0
        self._done = asyncio.Event()

    def consumed(self) -> None:
        if not self._began:
            self._began = time.perf_counter()
            self._began_cpu = time.process_time()

    def acked(self, count: int = 1) -> None:
        self.acknowledged += count
        if self.acknowledged >= self.n and not self._done.is_set():
            self.seconds = time.perf_counter() - self._began
            self.cpu = time.process_time() - self._began_cpu
            self._done.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            done = f"{self.acknowledged} of {self.n} outputs"
            raise TimeoutError(f"{done} after {timeout:g}s") from None

    def report(self, **details: object) -> None:
        """The one line the benchmark reads from stdout."""
        result = {"n": self.n, "seconds": self.seconds, "cpu_s": self.cpu, **details}
        print(json.dumps(result), flush=True)
