"""`ModelDouble`: a scripted OpenAI-compatible and Anthropic server over HTTP on loopback.

A TEST DOUBLE, not a model: it answers `POST /v1/chat/completions` (OpenAI shape, base
URL `url`) and `POST /v1/messages` (Anthropic's `Message` shape, base URL
`anthropic_url`; `finish_reason` is then a stop reason, `cached_tokens` the cache
reads) with what a test scripted, so behaviour tests exercise the real `openai` and
`anthropic` clients, HTTP and the mesh's error mapping without a model. Scriptable
per call: content, tool calls, JSON, usage numbers, a status (429 with Retry-After,
500, 529), a delay (to make the client time out) or a body that is not JSON. It
records every request, so a test can count the calls made for one logical call
(`calls_with("text")`).

    with ModelDouble() as double:
        double.script(Reply(content="hi"), model="small")  # next call to model "small"
        double.script(Reply(status=500))                   # next call to any model
        ... MESH_MODEL_ENDPOINT=double.url ...
        assert double.calls_with("refund") == 1

Replies are taken in order: the model's own queue first, then the shared one; with
both empty, `default` answers. A stdlib server in a thread, so it runs the same
whatever event loop the test uses.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `status` other than 200 answers an OpenAI-style error;
    `raw` replaces the whole body (e.g. not JSON); `delay` seconds pass first."""

    content: str | None = "ok"
    tool_calls: list[tuple[str, str, dict[str, Any] | str]] = field(default_factory=list)
    finish_reason: str | None = None
    input_tokens: int = 10
    output_tokens: int = 5
    cached_tokens: int = 0
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    raw: bytes | None = None


class ModelDouble:
    """The scripted server; `url` is its OpenAI base URL (`http://127.0.0.1:<port>/v1`)."""

    def __init__(self) -> None:
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request, in order
        self._shared: deque[Reply] = deque()
        self._by_model: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll: `shutdown` waits up to one interval, at every test's teardown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def anthropic_url(self) -> str:
        """The base URL the `anthropic` client takes (it adds `/v1/messages`)."""
        return self.url.removesuffix("/v1")

    def __enter__(self) -> ModelDouble:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, *replies: Reply, model: str | None = None) -> None:
        """Queue `replies` for the next calls (to `model` only, when given)."""
        with self._lock:
            queue = self._shared if model is None else self._by_model.setdefault(model, deque())
            queue.extend(replies)

    def calls(self, model: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if model is None or r.get("model") == model)

    def calls_with(self, text: str) -> int:
        """Requests whose first user message contains `text` (one logical call's)."""
        with self._lock:
            return sum(1 for r in self.requests if text in _first_user_text(r))

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.arrivals.append(time.monotonic())
            own = self._by_model.get(str(body.get("model")))
            if own:
                return own.popleft()
            return self._shared.popleft() if self._shared else self.default


def _first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            content = message.get("content") or ""
            if isinstance(content, list):  # Anthropic's content blocks
                return " ".join(str(b.get("text", "")) for b in content)
            return str(content)
    return ""


def _message(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """An Anthropic Messages API `Message`."""
    content: list[dict[str, Any]] = []
    if reply.content is not None:
        content.append({"type": "text", "text": reply.content})
    for call_id, name, args in reply.tool_calls:
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": args})
    stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
    return {
        "id": "msg_double",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "double"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": reply.input_tokens,
            "output_tokens": reply.output_tokens,
            "cache_read_input_tokens": reply.cached_tokens,
            "cache_creation_input_tokens": 0,
        },
    }


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    calls = [
        {
            "id": call_id,
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for call_id, name, args in reply.tool_calls
    ]
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-double",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "double"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        },
    }


def _handler_for(double: ModelDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            reply = double._next_reply(body)
            anthropic = self.path.rstrip("/").endswith("/messages")
            if reply.delay:
                time.sleep(reply.delay)  # the server's thread, never the test's loop
            headers = {"Content-Type": "application/json"}
            if reply.retry_after is not None:
                headers["Retry-After"] = f"{reply.retry_after:g}"
            if reply.raw is not None:
                payload = reply.raw
            elif reply.status != 200 and anthropic:
                error = {"type": "double_error", "message": f"scripted {reply.status}"}
                payload = json.dumps({"type": "error", "error": error}).encode()
            elif reply.status != 200:
                error = {"message": f"scripted {reply.status}", "type": "double", "code": None}
                payload = json.dumps({"error": error}).encode()
            elif anthropic:
                payload = json.dumps(_message(body, reply)).encode()
            else:
                payload = json.dumps(_completion(body, reply)).encode()
            self._send(reply.status, payload, headers)

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out
                pass

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
