"""`mesh task ID --follow`, `mesh submit ... --follow`: the task as it moves, its
model's tokens as they come.

It reads the task's state from the client's view (status changes, progress entries)
and the task's streamed tokens from a `TokenFeed` (from the tokens topic's end, no
consumer group, ADR 022), until the task ends. Tokens print as they arrive, an answer
on its own line (other lines wait until it ends); the answer's progress entry is then
not printed again. A token
wakes the loop at once; a state change is seen within `LOOK_EVERY` seconds.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TextIO

import orjson

from mesh.client import Client
from mesh.topics import Topics
from mesh.views.tokens import TokenFeed
from schemas.tasks import ProgressEntry, TaskState

LOOK_EVERY = 0.2  # seconds between looks at the task's state while no token comes


@asynccontextmanager
async def token_feed(client: Client) -> AsyncIterator[TokenFeed]:
    """The tokens streamed from now on. Open it before submitting a task to follow:
    it reads from the topic's end, so tokens written before it started are not in it."""
    feed = TokenFeed(client.transport, Topics(client.settings.namespace))
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def follow_task(
    client: Client,
    task_id: str,
    *,
    feed: TokenFeed | None = None,
    header: bool = True,
    out: TextIO = sys.stdout,
) -> TaskState:
    """Print the task's events and tokens until it ends; its last state. `feed`: one
    opened earlier (`token_feed`); `header`: print the task's id and agent first."""
    if feed is not None:
        return await _follow(client, feed, task_id, out, header)
    async with token_feed(client) as opened:
        return await _follow(client, opened, task_id, out, header)


async def _follow(
    client: Client, feed: TokenFeed, task_id: str, out: TextIO, header: bool
) -> TaskState:
    state = await client.get(task_id)
    if header:
        print(f"task      {state.task_id}  ({state.agent})", file=out)
    printer = _Printer(out)
    printer.status(state)
    for token in feed.unfinished(task_id):  # an answer begun before we joined
        printer.token(token.delta.call, token.delta.text, token.delta.done)
    seen_tokens, seen_progress = feed.last_number(task_id), len(state.progress)
    while True:
        for token in feed.after(task_id, seen_tokens):
            printer.token(token.delta.call, token.delta.text, token.delta.done)
            seen_tokens = token.number
        state = client.view.tasks.get(task_id, state)
        for entry in state.progress[seen_progress:]:
            printer.progress(entry)
        seen_progress = len(state.progress)
        printer.status(state)
        if state.status.is_terminal:
            printer.outcome(state)
            return state
        await feed.wait_for_tokens(task_id, seen_tokens, timeout=LOOK_EVERY)


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._status: str | None = None
        self._streamed: set[str] = set()  # calls whose tokens were printed
        self._open = False  # an answer is being printed (no newline yet)
        self._held: list[str] = []  # lines that came while it was

    def status(self, state: TaskState) -> None:
        if state.status != self._status:
            self._status = state.status
            self._line(f"status    {state.status}")

    def token(self, call: str, text: str, done: bool) -> None:
        if not self._open:
            self._write("tokens    ")
            self._open = True
        self._streamed.add(call)
        self._write(text)
        if done:
            self._close()

    def progress(self, entry: ProgressEntry) -> None:
        if entry.data.get("model_call") in self._streamed:
            return  # its text was printed as it streamed
        data = orjson.dumps(entry.data).decode()
        self._line(f"progress  {entry.at:%H:%M:%S} {entry.message} {data}")

    def outcome(self, state: TaskState) -> None:
        self._close()  # an answer cut off mid-stream: its end will not come
        if state.result is not None:
            self._line(f"result    {orjson.dumps(state.result).decode()}")
        if state.error is not None:
            self._line(f"error     {state.error.type}: {state.error.message}")

    def _line(self, text: str) -> None:
        if self._open:
            self._held.append(text)
        else:
            self._write(text + "\n")

    def _close(self) -> None:
        if self._open:
            self._write("\n")
            self._open = False
        held, self._held = self._held, []
        for text in held:
            self._write(text + "\n")

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()
