"""The gateway reads every topic it follows (its task view's, the token feed's, the
LangGraph threads') through one consumer (ADR 053), and each follower still gets its
own records: the view its agent cards, the token feed the tokens published after it
started (live only), the thread store the threads another gateway wrote."""

from __future__ import annotations

from collections.abc import Sequence

from mesh.settings import Settings
from mesh.topics import Topics, runtime_topics
from mesh.transport.base import Consumer, RebalanceListener
from mesh.transport.memory import MemoryTransport
from schemas import Envelope, encode_envelope
from schemas.envelope import utc_now
from schemas.langgraph import THREAD, ThreadRecord
from tests.contract.token_feed_behaviour import publish_token
from tests.gateway.memory_support import card, memory_gateway


class ConsumerLog(MemoryTransport):
    """The in-memory transport, noting the topics and group of each consumer made."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[tuple[tuple[str, ...], str | None]] = []

    def consumer(
        self,
        topics: Sequence[str],
        *,
        group: str | None,
        listener: RebalanceListener | None = None,
    ) -> Consumer:
        self.made.append((tuple(topics), group))
        return super().consumer(topics, group=group, listener=listener)


async def test_the_gateway_reads_its_followed_topics_through_one_consumer() -> None:
    settings = Settings()
    topics = Topics(settings.namespace)
    transport = ConsumerLog()
    await transport.ensure_topics(runtime_topics(settings))
    await publish_token(transport, topics, "t1", "before", 0, done=False)  # not live: skipped
    async with memory_gateway(settings=settings, transport=transport) as gw:
        gateway = gw.gateway
        readers = [read for read, group in transport.made if group is None]
        assert len(readers) == 1, readers
        followed = {*gateway.view.followed_topics, topics.task_tokens, topics.langgraph_threads}
        assert set(readers[0]) == followed

        await gw.publish_card(card("echo", "echo.task", {"type": "object"}))  # the view
        await publish_token(transport, topics, "t1", "live", 0, done=False)
        now = utc_now()
        thread = ThreadRecord(thread_id="th-1", created_at=now, updated_at=now)
        envelope = Envelope(type=THREAD, payload=thread.model_dump(mode="json"))
        await transport.publish(topics.langgraph_threads, encode_envelope(envelope), key=b"th-1")

        await gateway.tokens.catch_up(timeout=5)
        assert [token.delta.message_id for token in gateway.tokens.after("t1", 0)] == ["live"]
        response = await gw.http.get("/threads/th-1")  # the store catches up to find it
        assert response.status_code == 200, response.text
        assert (await gw.http.get("/readyz")).status_code == 200
    assert len([group for _, group in transport.made if group is None]) == 1
