"""Which topics exist, with which partitions and cleanup policy."""

from __future__ import annotations

from mesh.settings import Settings
from mesh.topics import Topics
from mesh.transport.base import TopicSpec

_HEARTBEATS_RETENTION = 3600.0  # only the latest few matter; an hour helps debugging


def _spec(settings: Settings, name: str, **options: object) -> TopicSpec:
    return TopicSpec(
        name,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        **options,  # type: ignore[arg-type]
    )


def runtime_topics(settings: Settings) -> list[TopicSpec]:
    """Topics every mesh process needs: lifecycle events, task state, agent cards,
    heartbeats."""
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.task_events, retention=settings.events_retention),
        _spec(settings, topics.task_state, compacted=True),
        _spec(settings, topics.agents, compacted=True),
        _spec(settings, topics.heartbeats, retention=_HEARTBEATS_RETENTION),
        _spec(settings, topics.circuits, compacted=True),
        _spec(settings, topics.agent_liveness, compacted=True),
    ]


def agent_topics(settings: Settings, agent: str) -> list[TopicSpec]:
    """An agent's inbox, its dead-letter topic, its journal and its retry tiers.

    The inbox, journal and retry tiers share one partition count: partition N of each
    holds the same tasks (co-partitioned; see mesh/journal.py).
    """
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.inbox(agent)),
        _spec(settings, topics.dead_letters(agent)),
        _spec(
            settings, topics.journal(agent), compacted=True, retention=settings.journal_retention
        ),
        *(_spec(settings, topics.retry(agent, tier)) for tier in settings.retry_tiers),
    ]


def dead_letter_topics(settings: Settings, agent: str) -> list[TopicSpec]:
    """An agent's dead-letter topic and its purge marks (one partition: a few records)."""
    topics = Topics(settings.namespace)
    marks = TopicSpec(
        topics.dead_letter_purges(agent),
        partitions=1,
        compacted=True,
        replication_factor=settings.replication_factor,
    )
    return [_spec(settings, topics.dead_letters(agent)), marks]


def retry_tier(settings: Settings, delay: float) -> float:
    """The shortest tier that is at least `delay` long (the longest, past them all)."""
    return next((t for t in settings.retry_tiers if t >= delay), settings.retry_tiers[-1])


def domain_topic(settings: Settings, event_type: str) -> TopicSpec:
    return _spec(settings, Topics(settings.namespace).domain(event_type))


def gateway_topics(settings: Settings) -> list[TopicSpec]:
    """What the gateway writes besides tasks: webhook registrations and their status."""
    return [_spec(settings, Topics(settings.namespace).gateway_webhooks, compacted=True)]


def langgraph_topics(settings: Settings) -> list[TopicSpec]:
    """The gateway's LangGraph-API threads and runs (mesh/gateway/threads.py)."""
    return [_spec(settings, Topics(settings.namespace).langgraph_threads, compacted=True)]


def supervisor_topics(settings: Settings) -> list[TopicSpec]:
    """What the supervisor writes besides task events and control messages."""
    topics = Topics(settings.namespace)
    return [_spec(settings, topics.supervisor_status, compacted=True)]
