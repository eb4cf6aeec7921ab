"""A replica reads its own LangGraph writes at once, even while its copy of the threads
topic lags behind (the in-memory transport, with a reader that lags as Kafka's do)."""

from __future__ import annotations

from mesh.settings import Settings
from mesh.topics import Topics
from tests.doubles import LaggingFollowerTransport
from tests.gateway.memory_support import memory_gateway


async def test_a_deleted_thread_is_gone_at_once_on_the_replica_that_deleted_it() -> None:
    settings = Settings()
    transport = LaggingFollowerTransport(Topics(settings.namespace).langgraph_threads)
    async with memory_gateway(settings=settings, transport=transport) as mesh:
        created = await mesh.http.post("/threads", json={})
        thread_id = created.json()["thread_id"]
        # Read at once from this replica's own write (its reader has not seen it yet).
        assert (await mesh.http.get(f"/threads/{thread_id}")).status_code == 200

        # While the delete is written, the reader applies the thread's creation (an
        # older record of the same key), but not the delete itself.
        assert (await mesh.http.delete(f"/threads/{thread_id}")).status_code == 204
        gone = await mesh.http.get(f"/threads/{thread_id}")
        assert gone.status_code == 404, gone.text
        listed = await mesh.http.post("/threads/search", json={"ids": [thread_id]})
        assert listed.json() == []


async def test_a_deleted_thread_stays_gone_while_the_reader_catches_up() -> None:
    settings = Settings()
    topic = Topics(settings.namespace).langgraph_threads
    transport = LaggingFollowerTransport(topic, release_on_write=False)
    async with memory_gateway(settings=settings, transport=transport) as mesh:
        thread_id = (await mesh.http.post("/threads", json={})).json()["thread_id"]
        assert (await mesh.http.delete(f"/threads/{thread_id}")).status_code == 204

        # The reader, behind, now applies the thread's creation, not yet its deletion
        # (no read in between: a read of a missing thread would catch up).
        await transport.release_all_but_the_last_write()
        assert (await mesh.http.get(f"/threads/{thread_id}")).status_code == 404
        assert (await mesh.http.get(f"/threads/{thread_id}/runs")).status_code == 404
