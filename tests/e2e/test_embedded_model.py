"""Smoke tests against the real embedded model: `mesh model-server` (llama.cpp serving
SmolLM2-135M-Instruct on loopback) called with the official `openai` client.

They check structure only, never content: a 135M model's words are unreliable, and
its greedy output differs between CPU builds. Answers are kept short (max_tokens 16
to 64; it decodes 35-65 tokens/s on one thread).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from mesh.dev.model_server import MODEL_NAME
from mesh.models import ChatMessage
from mesh.models.openai_compatible import OpenAICompatible
from mesh.models.types import ModelRequest

pytestmark = pytest.mark.e2e

NO_MESH_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
READY_LINE = re.compile(rb"export MESH_MODEL_ENDPOINT=(\S+) MESH_MODEL_NAME=(\S+)")


@dataclass(frozen=True)
class Served:
    base_url: str
    name: str
    client: openai.OpenAI


def _read_until_ready(proc: subprocess.Popen[bytes], timeout: float) -> re.Match[bytes]:
    """The server's "export ..." line, read from its stdout within `timeout` seconds."""
    assert proc.stdout is not None
    fd, output = proc.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while (found := READY_LINE.search(output)) is None:
        left = deadline - time.monotonic()
        assert left > 0, f"no ready line within {timeout} s; output: {output!r}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the model server exited ({proc.wait()}); output: {output!r}"
            output += chunk
    return found


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh", "model-server"],
        env=NO_MESH_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = _read_until_ready(proc, timeout=60)
        base_url, name = ready.group(1).decode(), ready.group(2).decode()
        client = openai.OpenAI(base_url=base_url, api_key="unused", timeout=60, max_retries=0)
        with client:
            yield Served(base_url, name, client)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_it_serves_the_named_model_on_loopback(served: Served) -> None:
    assert served.name == MODEL_NAME
    assert served.base_url.startswith("http://127.0.0.1:")
    assert httpx.get(served.base_url.removesuffix("/v1") + "/health").status_code == 200
    assert [model.id for model in served.client.models.list()] == [MODEL_NAME]


def test_chat_completion(served: Served) -> None:
    answer = served.client.chat.completions.create(
        model=served.name,
        messages=[{"role": "user", "content": "Say hello to a new colleague."}],
        max_tokens=16,
        temperature=0,
    )
    assert answer.model == MODEL_NAME
    assert answer.choices[0].message.role == "assistant"
    assert (answer.choices[0].message.content or "").strip()
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_streaming_completion(served: Served) -> None:
    stream = served.client.chat.completions.create(
        model=served.name,
        messages=[{"role": "user", "content": "Describe a river in one sentence."}],
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) >= 3, chunks  # the answer arrives token by token, not at once
    assert "".join(pieces).strip()
    usage = chunks[-1].usage  # include_usage: a last chunk with no choices carries it
    assert usage is not None and usage.completion_tokens >= len(pieces) > 0


def test_json_schema_answer_parses(served: Served) -> None:
    schema = {
        "type": "object",
        "properties": {"urgent": {"type": "boolean"}, "team": {"enum": ["billing", "shipping"]}},
        "required": ["urgent", "team"],
        "additionalProperties": False,
    }
    answer = served.client.chat.completions.create(
        model=served.name,
        messages=[{"role": "user", "content": "My parcel is late. Route this ticket."}],
        max_tokens=64,  # the grammar lets it indent: ~40 tokens for this small object
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "routing", "schema": schema, "strict": True},
        },
    )
    assert answer.choices[0].finish_reason == "stop"  # the grammar closed the object
    routed = json.loads(answer.choices[0].message.content or "")
    assert set(routed) == {"urgent", "team"}
    assert isinstance(routed["urgent"], bool) and routed["team"] in ("billing", "shipping")


async def test_the_mesh_adapter_streams_from_it(served: Served) -> None:
    """`ModelProvider.stream` (ADR 022) on the real server: deltas, then the answer."""
    provider = OpenAICompatible(served.base_url, api_key="", timeout=60)
    question = ChatMessage.user("Describe a river in one sentence.")
    request = ModelRequest(model=served.name, messages=(question,), max_tokens=8, temperature=0)
    try:
        chunks = [chunk async for chunk in provider.stream(request)]
    finally:
        await provider.close()
    texts = [chunk.text for chunk in chunks if chunk.text]
    answer = chunks[-1].answer
    assert len(texts) >= 3, chunks  # token by token, not at once
    assert answer is not None and answer.content == "".join(texts)
    assert answer.finish_reason in ("stop", "length")
    assert answer.usage.output_tokens >= len(texts) and answer.usage.input_tokens > 0
