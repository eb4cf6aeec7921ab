"""`SlowModel`: the model double's answer after a fixed latency, for thousands of calls
in flight at once.

A TEST DOUBLE, not a model. tests/model_double.py's `ModelDouble` (a stdlib
ThreadingHTTPServer: a thread per connection, a listen backlog of 5) suits behaviour
tests; a burst of 5,000 connections would overflow its backlog (SYN retries of 1 s
and more, which would show as model latency) and need 5,000 threads. This serves the
same OpenAI `chat.completion` (`model_double.chat_completion`) from an asyncio
server (backlog 8192), each answer after `latency` seconds of `asyncio.sleep`, so
every call takes the latency and no more, however many wait.
`GET /stats` says how many requests it answered and the most in flight at once.

    python -m tests.bench.slow_model --latency 2   # prints its base URL; serves until
                                                   # its stdin closes
    with slow_model_process(latency=2.0) as model:  # the same, from a benchmark
        ... MESH_MODEL_ENDPOINT=model.url ...; await model.stats()
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import ROOT
from tests.model_double import Reply, chat_completion

REPLY = Reply(content="a finding", input_tokens=10, output_tokens=5)
BACKLOG = 8192


class SlowModel:
    """The server: `POST .../chat/completions` answered after `latency` seconds.

    HTTP/1.1 with keep-alive on asyncio streams, just what the `openai` client sends
    (a `Content-Length` body, no chunked requests): a few lines of parsing instead of
    a framework's, so the double's own CPU stays small next to the mesh's."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, length = _parse_head(head)
                body = await reader.readexactly(length)
                status, payload = await self._route(method, path, body)
                writer.write(_response(status, payload))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed its connection, or the server is stopping
        finally:
            writer.close()

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if method == "GET" and path == "/stats":
            stats = {"requests": self.requests, "peak_in_flight": self.peak_in_flight}
            return 200, json.dumps(stats).encode()
        if method == "POST" and path.endswith("/chat/completions"):
            return 200, await self._complete(json.loads(body or b"{}"))
        return 404, b'{"error": {"message": "not found"}}'

    async def _complete(self, body: dict[str, Any]) -> bytes:
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        return json.dumps(chat_completion(body, REPLY)).encode()


def _parse_head(head: bytes) -> tuple[str, str, int]:
    """(method, path, Content-Length) of a request's head."""
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return method, path, length


def _response(status: int, payload: bytes) -> bytes:
    reason = "OK" if status == 200 else "Not Found"
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def serve(latency: float) -> None:
    """Serve on a free loopback port, print the base URL, stop when stdin closes."""
    model = SlowModel(latency)
    server = await asyncio.start_server(
        model.connection, "127.0.0.1", 0, backlog=BACKLOG, limit=1 << 20
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await asyncio.to_thread(sys.stdin.read)  # the benchmark closes it to stop us


@dataclass(frozen=True)
class RunningModel:
    url: str  # the OpenAI base URL

    async def stats(self) -> dict[str, int]:
        """Requests answered so far, and the most in flight at once."""
        async with httpx.AsyncClient() as http:
            answer = await http.get(self.url.removesuffix("/v1") + "/stats")
            answer.raise_for_status()
            stats: dict[str, int] = answer.json()
            return stats


@contextlib.contextmanager
def slow_model_process(*, latency: float) -> Iterator[RunningModel]:
    """The slow model in a process of its own (its event loop shares no GIL with the
    benchmark's); yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.slow_model", "--latency", str(latency)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the slow model did not start (exit {proc.wait()})")
        yield RunningModel(url)
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.slow_model")
    parser.add_argument("--latency", type=float, required=True, help="seconds per call")
    asyncio.run(serve(parser.parse_args().latency))


if __name__ == "__main__":
    main()
