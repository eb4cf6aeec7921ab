"""`/healthz` and `/readyz` of a worker or supervisor process, for Kubernetes probes.

They are served beside `/metrics` (mesh/observability/metrics_server.py), from the
HTTP server's own thread, so they must not read the service's state from there:

- liveness asks the service's event loop to run a no-op and waits up to
  `loop_answer` seconds: a process whose loop is blocked (a handler calling blocking
  I/O, a CPU-bound step) is not alive, even though its metrics thread still answers;
- readiness runs the service's `not_ready_reason()` on that loop (so it reads asyncio
  state from the loop's own thread) and answers 503 with the reason, or 200.

Until a service is attached (`follow`), the process is alive and not ready: it is
still connecting. Nothing runs on the loop between two probes: an idle process stays
idle (ADR 036).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass

NotReadyReason = Callable[[], "str | None"]


@dataclass(frozen=True)
class ProbeAnswer:
    """What a probe answers: `reason` None means healthy (200), else 503 with it."""

    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class Probes:
    """The liveness and readiness of one service process."""

    def __init__(self, *, loop_answer: float = 2.0) -> None:
        self._loop_answer = loop_answer
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._not_ready_reason: NotReadyReason | None = None

    def follow(self, loop: asyncio.AbstractEventLoop, not_ready_reason: NotReadyReason) -> None:
        """Probe the service running on `loop`; `not_ready_reason()` runs on it."""
        with self._lock:
            self._loop, self._not_ready_reason = loop, not_ready_reason

    def liveness(self) -> ProbeAnswer:
        loop, _ = self._followed()
        if loop is None:
            return ProbeAnswer()  # starting: the loop is not known yet
        return self._on_loop(loop, lambda: None)

    def readiness(self) -> ProbeAnswer:
        loop, not_ready_reason = self._followed()
        if loop is None or not_ready_reason is None:
            return ProbeAnswer("starting: not connected to the broker yet")
        return self._on_loop(loop, not_ready_reason)

    def _followed(self) -> tuple[asyncio.AbstractEventLoop | None, NotReadyReason | None]:
        with self._lock:
            return self._loop, self._not_ready_reason

    def _on_loop(self, loop: asyncio.AbstractEventLoop, call: NotReadyReason) -> ProbeAnswer:
        """What `call()` answers, run on `loop`; the loop's fault when it cannot run it."""
        if loop.is_closed():
            return ProbeAnswer("the event loop is closed: the service stopped")
        answer: concurrent.futures.Future[str | None] = concurrent.futures.Future()

        def run() -> None:
            try:
                answer.set_result(call())
            except Exception as exc:  # reported as the probe's answer, not lost
                answer.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # closed between the check and the call
            return ProbeAnswer("the event loop is closed: the service stopped")
        try:
            return ProbeAnswer(answer.result(timeout=self._loop_answer))
        except concurrent.futures.TimeoutError:
            return ProbeAnswer(
                f"the event loop did not answer within {self._loop_answer:g} s: something blocks it"
            )
        except Exception as exc:
            return ProbeAnswer(f"the readiness check failed: {type(exc).__name__}: {exc}")
