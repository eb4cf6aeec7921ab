"""The lag collector on the in-memory transport: lag, retry and dead-letter depth come
from committed and end offsets (the Kafka side is tests/contract's offsets test and the
end-to-end test here)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from mesh.settings import Settings
from mesh.supervision._lag import LagCollector
from mesh.testing import MemoryTransport
from mesh.topics import Topics, agent_topics, gateway_topics, runtime_topics
from mesh.transport.base import TopicPartition
from schemas import Envelope, Source, encode_envelope
from schemas.envelope import utc_now
from schemas.tasks import AGENT_CARD, DLQ_PURGE_MARK, AgentCard, PurgeMark


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_lag_and_depths_follow_the_groups_commits(memory_settings: Settings) -> None:
    settings, topics, agent = memory_settings, Topics(memory_settings.namespace), "lagging"
    transport = MemoryTransport()
    await transport.ensure_topics([*runtime_topics(settings), *agent_topics(settings, agent)])
    card = AgentCard(name=agent, updated_at=utc_now())
    envelope = Envelope(type=AGENT_CARD, source=Source(agent=agent), payload=card.model_dump())
    await transport.publish(topics.agents, encode_envelope(envelope), key=agent.encode())
    inbox, retry = topics.inbox(agent), topics.retry(agent, settings.retry_tiers[0])
    for _ in range(3):
        await transport.publish(inbox, b"task", key=b"one-task")
    await transport.publish(retry, b"retry", key=b"one-task")
    for n in range(2):
        await transport.publish(topics.dead_letters(agent), b"letter", key=b"%d" % n)

    collector = LagCollector(transport, settings)
    await collector.collect()
    group = topics.group(agent)
    owned = {o.tp.partition: o for o in await transport.offsets([inbox]) if o.end}
    (partition,) = owned
    lag = {"group": group, "topic": inbox, "partition": str(partition)}
    assert _gauge("mesh_consumer_lag", **lag) == 3
    assert _gauge("mesh_retry_depth", agent=agent) == 1
    assert _gauge("mesh_dead_letter_depth", agent=agent) == 2

    member = transport.consumer([inbox], group=group)
    await member.start()
    await member.commit({TopicPartition(inbox, partition): 3})
    await member.stop()
    await collector.collect()
    assert _gauge("mesh_consumer_lag", **lag) == 0
    assert _gauge("mesh_dead_letter_depth", agent=agent) == 2  # consuming does not drain it

    # A purge (`mesh dlq purge`) does: purged letters wait for no one.
    held = [o for o in await transport.offsets([topics.dead_letters(agent)]) if o.end]
    mark = PurgeMark(
        agent=agent, partition=held[0].tp.partition, before=held[0].end, purged_at=utc_now()
    )
    purge = Envelope(
        type=DLQ_PURGE_MARK, source=Source(agent="ops"), payload=mark.model_dump(mode="json")
    )
    await transport.publish(topics.dead_letter_purges(agent), encode_envelope(purge), key=b"0")
    await collector.collect()
    assert _gauge("mesh_dead_letter_depth", agent=agent) == 2 - held[0].end


async def test_the_gateways_groups_are_measured_once_their_topics_exist(
    memory_settings: Settings,
) -> None:
    settings, topics = memory_settings, Topics(memory_settings.namespace)
    transport = MemoryTransport()
    await transport.ensure_topics(runtime_topics(settings))
    collector = LagCollector(transport, settings)
    await collector.collect()  # no gateway has run: nothing to measure, no failure
    senders = topics.gateway_webhook_senders
    assert (
        _gauge("mesh_consumer_lag", group=senders, topic=topics.gateway_webhooks, partition="0")
        is None
    )

    await transport.ensure_topics(gateway_topics(settings))
    await transport.publish(topics.gateway_webhooks, b"registration", key=b"hook")
    await collector.collect()
    [held] = [o for o in await transport.offsets([topics.gateway_webhooks]) if o.end]
    lag = {"group": senders, "topic": topics.gateway_webhooks, "partition": str(held.tp.partition)}
    assert _gauge("mesh_consumer_lag", **lag) == 1
