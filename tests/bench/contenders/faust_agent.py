"""A faust-streaming agent forwarding each record to an output topic, the way faust's
docs write one: `async for` over the stream, `send` to a topic.

Run by tests/bench/frameworks.py with the project's Python (faust-streaming is a
dependency of the supervisor); prints one JSON line (see _clock.py). The consumer's
fetch wait is the run's, as for every other contender: faust fixes it at 1.5 s, and
the embedded broker holds a fetch for about half of the wait even with data there
(the supervisor sets it the same way, mesh/supervision/app.py).
"""

from __future__ import annotations

import os
import signal
import tempfile
from typing import Any

import faust
from _clock import Clock, parse_args
from faust.worker import Worker

from mesh.settings import Settings
from mesh.supervision.app import _transport_class


def main(datadir: str) -> None:
    args = parse_args(__doc__ or "")
    clock = Clock(args.n)
    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=datadir,  # unused by memory tables, but faust creates it
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,  # acks=all: the producer posture of the mesh's transport
        producer_linger=args.linger_ms / 1000,
        producer_max_batch_size=args.batch_bytes,
        broker_max_poll_records=args.max_poll_records,
        broker_session_timeout=args.session_timeout_ms / 1000,
        broker_heartbeat_interval=args.heartbeat_ms / 1000,
        stream_wait_empty=False,
    )
    # The supervisor's transport (the same settable fetch wait as every contender); the
    # flush before a commit is the supervisor's changelog, which a forwarder has not.
    wait = Settings(fetch_max_wait=args.fetch_wait_ms / 1000)
    app.transport = _transport_class(wait, lambda: [])(app.conf.broker_consumer, app)
    source = app.topic(args.source)
    sink = app.topic(args.sink)

    def delivered(_: Any) -> None:
        clock.acked()

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for key, value in stream.items():
            clock.consumed()
            await sink.send(key=key, value=value, callback=delivered)

    worker = Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.spinner = None

    @app.task
    async def report() -> None:
        try:
            await clock.wait(args.timeout)
            clock.report(concurrency=1)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # the worker's own graceful stop

    worker.execute_from_commandline()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="bench-faust-") as directory:
        main(directory)
