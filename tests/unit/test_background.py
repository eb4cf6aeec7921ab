"""`BackgroundTask`: stop cancels the loop and waits for it; an error that ends the
loop is logged at once and kept, never lost; `serve_until` stops what it started."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mesh._background import BackgroundTask, serve_until
from tests.helpers import eventually


async def test_stop_cancels_the_loop_and_returns_once_it_has_ended() -> None:
    cleaned_up = asyncio.Event()

    async def loop() -> None:
        try:
            await asyncio.Event().wait()  # forever
        finally:
            await asyncio.sleep(0.01)  # clean-up that takes a moment, awaited by stop
            cleaned_up.set()

    task = BackgroundTask("forever")
    task.start(loop())
    await asyncio.sleep(0)
    assert task.running
    await task.stop()
    assert cleaned_up.is_set()
    assert not task.running and task.failure is None


async def test_an_error_that_ends_the_loop_is_logged_at_once_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def loop() -> None:
        raise RuntimeError("the loop broke")

    task = BackgroundTask("breaking")
    with caplog.at_level(logging.ERROR, logger="mesh._background"):
        task.start(loop())
        await eventually(lambda: not task.running, timeout=5, what="the loop to end")
        await asyncio.sleep(0)  # the done callback runs in the next round
    [record] = [r for r in caplog.records if r.name == "mesh._background"]
    assert record.getMessage() == "breaking stopped on an error"
    assert record.exc_info is not None and str(record.exc_info[1]) == "the loop broke"
    assert isinstance(task.failure, RuntimeError)
    await task.stop()  # reported once, when it happened: stopping does not raise it again
    assert isinstance(task.failure, RuntimeError)


async def test_it_logs_to_its_owners_logger(caplog: pytest.LogCaptureFixture) -> None:
    owner = logging.getLogger("tests.owner")

    async def loop() -> None:
        raise ValueError("bad")

    task = BackgroundTask("owned", logger=owner)
    task.start(loop())
    await eventually(lambda: not task.running, timeout=5, what="the loop to end")
    await task.stop()
    assert [r.name for r in caplog.records if r.levelno == logging.ERROR] == ["tests.owner"]


async def test_a_running_task_cannot_be_started_twice_but_can_after_stop() -> None:
    async def loop() -> None:
        await asyncio.Event().wait()

    task = BackgroundTask("once")
    task.start(loop())
    with pytest.raises(RuntimeError, match="already running"):
        task.start(loop())  # the refused coroutine is closed: no "never awaited" warning
    await task.stop()
    task.start(loop())
    assert task.running
    await task.stop()


async def test_stop_before_start_does_nothing() -> None:
    task = BackgroundTask("never started")
    await task.stop()
    assert not task.running and task.failure is None


async def test_cancelling_the_stopper_leaves_the_loop_cancelled() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()  # it takes its time to end

    task = BackgroundTask("slow")
    task.start(slow_to_stop())
    await asyncio.sleep(0)
    stopper = asyncio.create_task(task.stop())
    await asyncio.sleep(0.01)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    release.set()
    await eventually(lambda: not task.running, timeout=5, what="the loop to end")
    assert task.failure is None


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_serve_until_starts_then_stops_when_told_or_cancelled() -> None:
    told, stopping = Recorder(), asyncio.Event()
    running = asyncio.create_task(serve_until(told, stopping))
    await eventually(lambda: told.calls == ["start"], timeout=5, what="a start")
    stopping.set()
    await running
    assert told.calls == ["start", "stop"]

    cancelled = Recorder()
    running = asyncio.create_task(serve_until(cancelled, asyncio.Event()))
    await eventually(lambda: cancelled.calls == ["start"], timeout=5, what="a start")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert cancelled.calls == ["start", "stop"]
