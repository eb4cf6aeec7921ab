"""What a `TokenFeed` (mesh/views/tokens.py, ADR 022) must do on either transport: read
the tokens topic from its end (what came before it started is skipped), keep each
task's records in order, and give a joining reader the answers still unfinished."""

from __future__ import annotations

from mesh.settings import Settings
from mesh.topics import Topics, runtime_topics
from mesh.transport.base import Transport
from mesh.views.tokens import TokenFeed
from schemas import Envelope, encode_envelope
from schemas.envelope import utc_now
from schemas.tokens import TASK_TOKENS, TokenDelta


async def publish_token(
    transport: Transport, topics: Topics, task_id: str, message_id: str, seq: int, *, done: bool
) -> None:
    delta = TokenDelta(
        agent="a",
        model="m",
        call="model/x/0",
        message_id=message_id,
        seq=seq,
        text=f"piece {seq} ",
        done=done,
        at=utc_now(),
    )
    envelope = Envelope(type=TASK_TOKENS, task_id=task_id, payload=delta.model_dump(mode="json"))
    await transport.publish(topics.task_tokens, encode_envelope(envelope), key=task_id.encode())


async def check_the_feed_reads_from_the_end(transport: Transport, settings: Settings) -> None:
    topics = Topics(settings.namespace)
    await transport.ensure_topics(runtime_topics(settings))
    await publish_token(transport, topics, "t1", "before", 0, done=False)  # before it started
    feed = TokenFeed(transport, topics)
    await feed.start()
    try:
        await publish_token(transport, topics, "t1", "m1", 0, done=False)
        await publish_token(transport, topics, "t1", "m1", 1, done=True)
        await publish_token(transport, topics, "t1", "m2", 0, done=False)
        await feed.catch_up()
        records = [(t.number, t.delta.message_id, t.delta.seq) for t in feed.after("t1", 0)]
        assert records == [(1, "m1", 0), (2, "m1", 1), (3, "m2", 0)]
        assert [t.delta.message_id for t in feed.unfinished("t1")] == ["m2"]
        assert feed.after("t1", 3) == [] and feed.last_number("t1") == 3
        assert feed.after("other", 0) == []
    finally:
        await feed.stop()
