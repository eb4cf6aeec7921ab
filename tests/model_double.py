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

A request with `"stream": true` gets the same scripted reply as Server-Sent Events:
OpenAI `chat.completion.chunk`s (the content in `Reply.pieces` pieces, tool-call
arguments in two pieces, then a usage chunk when `stream_options.include_usage`), or
Anthropic's `message_start` ... `message_stop` event stream. A test that must see a
delta before the answer ends sets `Reply.gate` (a `threading.Event`): the double
sends the first piece, then waits for the gate before the rest (and cuts the answer
off, so the call fails, when the gate stays closed for `GATE_TIMEOUT` seconds).

    with ModelDouble() as double:
        double.script(Reply(content="hi"), model="small")  # next call to model "small"
        double.script(Reply(status=500))                   # next call to any model
        ... MESH_MODEL_ENDPOINT=double.url ...
        assert double.calls_with("refund") == 1

Replies are taken in order: the model's own queue first, then the shared one; with
both empty, `default` answers. Calls made in parallel arrive in no set order: a
`responder` (a function of the request body giving a `Reply`, or None to go on to
the queues) answers each by what it asks; it may block, to hold a caller mid-call.
A stdlib server in a thread, so it runs the same whatever event loop the test uses.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

GATE_TIMEOUT = 10.0


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
    pieces: int = 3  # streamed: the content is sent in this many deltas
    gate: threading.Event | None = None  # streamed: the rest waits for it after piece 1


class ModelDouble:
    """The scripted server; `url` is its OpenAI base URL (`http://127.0.0.1:<port>/v1`)."""

    def __init__(self) -> None:
        self.default = Reply()
        self.responder: Callable[[dict[str, Any]], Reply | None] | None = None
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
        if self.responder is not None and (reply := self.responder(body)) is not None:
            return reply  # outside the lock: a responder may block
        with self._lock:
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


def chat_completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """The OpenAI `chat.completion` answering `body` with `reply` (also served by the
    asyncio double of the benchmarks, tests/bench/slow_model.py)."""
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
        # Headers and body go out as two writes: with Nagle's algorithm the body waits
        # for the client's delayed ACK of the headers, ~40 ms on every keep-alive request.
        disable_nagle_algorithm = True

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
            elif body.get("stream"):
                self._stream(body, reply, anthropic)
                return
            elif anthropic:
                payload = json.dumps(_message(body, reply)).encode()
            else:
                payload = json.dumps(chat_completion(body, reply)).encode()
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

        def _stream(self, body: dict[str, Any], reply: Reply, anthropic: bool) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")  # the body ends when we close
                self.end_headers()
                events = _anthropic_events if anthropic else _openai_events
                first_delta = 3 if anthropic else 1  # the frame of the first text delta
                for number, frame in enumerate(events(body, reply)):
                    held = number == first_delta + 1 and reply.gate is not None
                    if held and not reply.gate.wait(timeout=GATE_TIMEOUT):  # type: ignore[union-attr]
                        return  # a test that never saw the first piece: cut it off
                    self.wfile.write(frame)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


def _pieces(text: str | None, count: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, count)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _openai_events(body: dict[str, Any], reply: Reply) -> list[bytes]:
    """A streamed chat completion: role, content pieces, tool calls, finish, usage."""
    completion = chat_completion(body, reply)
    base = {k: completion[k] for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse({**base, "choices": [choice]})

    frames = [chunk({"role": "assistant", "content": ""})]
    frames += [chunk({"content": piece}) for piece in _pieces(reply.content, reply.pieces)]
    for index, call in enumerate(completion["choices"][0]["message"].get("tool_calls", [])):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        head = {"index": index, "id": call["id"], "type": "function"}
        function = {"name": call["function"]["name"], "arguments": arguments[:half]}
        frames.append(chunk({"tool_calls": [{**head, "function": function}]}))
        rest = {"index": index, "function": {"arguments": arguments[half:]}}
        frames.append(chunk({"tool_calls": [rest]}))
    frames.append(chunk({}, completion["choices"][0]["finish_reason"]))
    if (body.get("stream_options") or {}).get("include_usage"):
        frames.append(_sse({**base, "choices": [], "usage": completion["usage"]}))
    return [*frames, b"data: [DONE]\n\n"]


def _anthropic_events(body: dict[str, Any], reply: Reply) -> list[bytes]:
    """Anthropic's Messages event stream for the same reply."""
    message = _message(body, reply)
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 0}}
    frames = [_sse({"type": "message_start", "message": start}, "message_start")]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": p} for p in _pieces(block["text"], reply.pieces)
            ]
        else:
            opening = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        frames.append(
            _sse(
                {"type": "content_block_start", "index": index, "content_block": opening},
                "content_block_start",
            )
        )
        frames += [
            _sse({"type": "content_block_delta", "index": index, "delta": d}, "content_block_delta")
            for d in deltas
        ]
        frames.append(_sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    frames.append(
        _sse(
            {
                "type": "message_delta",
                "delta": delta,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
            "message_delta",
        )
    )
    return [*frames, _sse({"type": "message_stop"}, "message_stop")]
