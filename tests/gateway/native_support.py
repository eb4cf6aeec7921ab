"""Helpers of the native API tests: bounded polls over HTTP, SSE reading, a webhook receiver."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.helpers import poll as poll  # the native tests' bounded wait


def submit(http: httpx.Client, agent: str, input: dict[str, Any], **extra: Any) -> str:
    response = http.post("/v1/tasks", json={"agent": agent, "input": input, **extra})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


def wait_status(http: httpx.Client, task_id: str, *statuses: str, timeout: float = 20) -> Any:
    """The task's document once its status is one of `statuses`."""

    def check() -> Any:
        response = http.get(f"/v1/tasks/{task_id}")
        if response.status_code == 200 and response.json()["status"] in statuses:
            return response.json()
        return None

    return poll(check, timeout=timeout, what=f"task {task_id} to be {statuses}")


@dataclass
class SseEvent:
    id: str
    event: str
    data: str


def read_sse(
    http: httpx.Client, task_id: str, *, last_event_id: str | None = None, stop_after: int = 0
) -> list[SseEvent]:
    """The task's SSE stream until the server ends it (or `stop_after` events)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[SseEvent] = []
    fields: dict[str, str] = {}
    with http.stream("GET", f"/v1/tasks/{task_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if fields:
                events.append(SseEvent(fields["id"], fields["event"], fields["data"]))
                fields = {}
                if len(events) == stop_after:
                    break
    return events


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A real HTTP server on a free port: `/ok` answers 200, `/flaky-N` fails N times
    then answers 200, `/down` always answers 503. Every request is recorded."""

    received: list[Received] = field(default_factory=list)
    _failures: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._answer(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.received.append(Received(path, headers, body))
            if path.startswith("/down"):
                return 503
            if path.startswith("/flaky-"):
                allowed = int(path.split("-")[1].split("/")[0])
                failed = self._failures.get(path, 0)
                if failed < allowed:
                    self._failures[path] = failed + 1
                    return 500
            return 200

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
