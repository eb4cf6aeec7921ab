"""Topics: their names (the one place they are spelled) and their specs.

`Topics` names every topic and consumer group; the functions below say which topics
exist, with which partitions and cleanup policy.

Every name is prefixed by the settings' namespace (when set), which is how tests
and side-by-side meshes get their own topics and groups on one cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh.settings import Settings
from mesh.transport.base import TopicSpec


@dataclass(frozen=True)
class Topics:
    namespace: str = ""

    def _name(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    def inbox(self, agent: str) -> str:
        """Tasks, steering, cancel and child outcomes for one agent type."""
        return self._name(f"mesh.agent.{agent}")

    def dead_letters(self, agent: str) -> str:
        """Records and tasks of an agent that will not succeed, with the reason."""
        return self._name(f"mesh.agent.{agent}.dlq")

    def dead_letter_purges(self, agent: str) -> str:
        """Compacted: per dead-letter partition, the offset below which records are purged."""
        return self._name(f"mesh.agent.{agent}.dlq.purged")

    def journal(self, agent: str) -> str:
        """Compacted: finished-task records, step results and child outcomes of an
        agent's tasks (mesh/runtime/journal.py), partitioned like its inbox."""
        return self._name(f"mesh.agent.{agent}.journal")

    def retry(self, agent: str, tier: float) -> str:
        """Delayed retries of an agent's tasks, one topic per delay tier (seconds)."""
        return self._name(f"mesh.agent.{agent}.retry.{tier:g}s")

    def domain(self, event_type: str) -> str:
        """Domain events published by upstream systems and agents."""
        return self._name(event_type)

    @property
    def task_events(self) -> str:
        return self._name("mesh.tasks.events")

    @property
    def task_tokens(self) -> str:
        """Streamed model output of running tasks, by task id (short retention, ADR 022)."""
        return self._name("mesh.tasks.tokens")

    @property
    def task_state(self) -> str:
        return self._name("mesh.tasks.state")

    @property
    def heartbeats(self) -> str:
        """Worker liveness: a heartbeat per worker process every liveness interval."""
        return self._name("mesh.heartbeats")

    @property
    def circuits(self) -> str:
        """Compacted: each agent type's circuit (closed, open, half-open), by agent."""
        return self._name("mesh.circuits")

    @property
    def agent_pauses(self) -> str:
        """Compacted: each agent type's pause switch, by agent type (ADR 039)."""
        return self._name("mesh.agents.paused")

    @property
    def agent_liveness(self) -> str:
        """Compacted: each agent type's live worker count, by agent type (on change)."""
        return self._name("mesh.agents.live")

    @property
    def supervisor_status(self) -> str:
        """Compacted: the latest status snapshot of each supervisor instance."""
        return self._name("mesh.supervisor.status")

    @property
    def supervisor_outcomes(self) -> str:
        """Attempt outcomes keyed by agent type: the supervisor regroups them there, so
        one instance owns each agent type's health (its circuit)."""
        return self._name("mesh.supervisor.outcomes")

    @property
    def supervisor_app(self) -> str:
        """The supervisor's faust app id: its consumer group and table topic prefix."""
        return self._name("mesh-supervisor")

    @property
    def gateway_webhooks(self) -> str:
        """Compacted: each task's completion webhook and its delivery status, by task id."""
        return self._name("mesh.gateway.webhooks")

    @property
    def gateway_webhook_senders(self) -> str:
        """The gateways' consumer group that shares webhook deliveries between replicas."""
        return self._name("mesh.gateway.webhook-senders")

    @property
    def gateway_a2a_push(self) -> str:
        """Compacted: A2A push notification configs, by task id and config id (ADR 041)."""
        return self._name("mesh.gateway.a2a.push")

    @property
    def gateway_a2a_push_senders(self) -> str:
        """The gateways' consumer group on the push topic: the member owning a config's
        partition sends its notifications."""
        return self._name("mesh.gateway.a2a.push-senders")

    @property
    def agents(self) -> str:
        """Compacted: the latest card of each agent type."""
        return self._name("mesh.agents")

    @property
    def langgraph_threads(self) -> str:
        """Compacted: the gateway's LangGraph-API threads and runs (ADR 012), a thread's
        records all on one partition."""
        return self._name("mesh.gateway.langgraph.threads")

    @property
    def langgraph_queue_drivers(self) -> str:
        """The gateways' consumer group on the threads topic: the member owning a
        thread's partition starts its queued runs."""
        return self._name("mesh.gateway.langgraph.queue-drivers")

    @property
    def quota_requests(self) -> str:
        """Rate-limit demand reports, keyed by resource (mesh/quota, ADR 024)."""
        return self._name("mesh.quota.requests")

    @property
    def quota_grants(self) -> str:
        """Rate-limit grants, keyed by the client they are for; read by every client."""
        return self._name("mesh.quota.grants")

    @property
    def quota_allocators(self) -> str:
        """The allocators' consumer group on the requests topic: the member owning a
        resource's partition is its allocator."""
        return self._name("mesh.quota.allocators")

    @property
    def budget_requests(self) -> str:
        """Budget reserve/settle/release requests, keyed by budget id (ADR 025)."""
        return self._name("mesh.budget.requests")

    @property
    def budget_ledger(self) -> str:
        """Compacted: each budget's balance, keyed by budget id, written before a reply."""
        return self._name("mesh.budget.ledger")

    @property
    def budget_replies(self) -> str:
        """The keepers' answers, keyed by the client they are for; read by every client."""
        return self._name("mesh.budget.replies")

    @property
    def budget_keepers(self) -> str:
        """The keepers' consumer group on the requests topic."""
        return self._name("mesh.budget.keepers")

    @property
    def schedules(self) -> str:
        """Compacted: each schedule and its progress, a schedule's records all on one
        partition (ADR 040)."""
        return self._name("mesh.schedules")

    @property
    def schedulers(self) -> str:
        """The schedulers' consumer group on the schedules topic: the member owning a
        schedule's partition fires its ticks."""
        return self._name("mesh.schedulers")

    def group(self, agent: str) -> str:
        """One consumer group per agent type: more processes share its partitions."""
        return self._name(f"mesh.{agent}")


_HEARTBEATS_RETENTION = 3600.0  # only the latest few matter; an hour helps debugging


def _spec(settings: Settings, name: str, **options: object) -> TopicSpec:
    return TopicSpec(
        name,
        partitions=settings.partitions,
        replication_factor=settings.replication_factor,
        **options,  # type: ignore[arg-type]
    )


def runtime_topics(settings: Settings) -> list[TopicSpec]:
    """Topics every mesh process needs: lifecycle events, streamed tokens, task state,
    agent cards, heartbeats, circuits, live counts and pause switches."""
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.task_events, retention=settings.events_retention),
        _spec(settings, topics.task_tokens, retention=settings.tokens_retention),
        _spec(settings, topics.task_state, compacted=True),
        _spec(settings, topics.agents, compacted=True),
        _spec(settings, topics.heartbeats, retention=_HEARTBEATS_RETENTION),
        _spec(settings, topics.circuits, compacted=True),
        _spec(settings, topics.agent_liveness, compacted=True),
        _spec(settings, topics.agent_pauses, compacted=True),
    ]


def agent_topics(settings: Settings, agent: str) -> list[TopicSpec]:
    """An agent's inbox, its dead-letter topic, its journal and its retry tiers.

    The inbox, journal and retry tiers share one partition count: partition N of each
    holds the same tasks (co-partitioned; see mesh/runtime/journal.py).
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


_QUOTA_RETENTION = 600.0  # only the latest report and grant matter


def quota_topics(settings: Settings) -> list[TopicSpec]:
    """The rate-limit requests and grants topics (mesh/quota, ADR 024)."""
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.quota_requests, retention=_QUOTA_RETENTION),
        _spec(settings, topics.quota_grants, retention=_QUOTA_RETENTION),
    ]


def budget_topics(settings: Settings) -> list[TopicSpec]:
    """The budgets' requests, ledger and replies topics (mesh/budgets, ADR 025). The
    ledger has the requests' partition count: a keeper owning requests partition N
    rebuilds its budgets from ledger partition N."""
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.budget_requests, retention=_QUOTA_RETENTION),
        _spec(settings, topics.budget_ledger, compacted=True),
        _spec(settings, topics.budget_replies, retention=_QUOTA_RETENTION),
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


def worker_topics(
    settings: Settings, agent: str, *, events: Sequence[str], delegates_to: Sequence[str]
) -> list[TopicSpec]:
    """What `mesh run` of `agent` creates when missing (its Kafka ACLs grant Create on
    them): the mesh's own topics, the agent's, those of the domain `events` it handles,
    and those of the agent types it delegates to."""
    specs = [*runtime_topics(settings), *agent_topics(settings, agent)]
    specs += [domain_topic(settings, t) for t in events]
    for target in delegates_to:
        specs += agent_topics(settings, target)
    return specs


def retry_tier(settings: Settings, delay: float) -> float:
    """The shortest tier that is at least `delay` long (the longest, past them all)."""
    return next((t for t in settings.retry_tiers if t >= delay), settings.retry_tiers[-1])


def domain_topic(settings: Settings, event_type: str) -> TopicSpec:
    return _spec(settings, Topics(settings.namespace).domain(event_type))


def gateway_topics(settings: Settings) -> list[TopicSpec]:
    """What the gateway writes besides tasks: webhook registrations and their status,
    and A2A push notification configs."""
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.gateway_webhooks, compacted=True),
        _spec(settings, topics.gateway_a2a_push, compacted=True),
    ]


def langgraph_topics(settings: Settings) -> list[TopicSpec]:
    """The gateway's LangGraph-API threads and runs (mesh/gateway/langgraph/_threads.py)."""
    return [_spec(settings, Topics(settings.namespace).langgraph_threads, compacted=True)]


def schedule_topics(settings: Settings) -> list[TopicSpec]:
    """The schedules and their progress (mesh/schedules, ADR 040)."""
    return [_spec(settings, Topics(settings.namespace).schedules, compacted=True)]


def supervisor_topics(settings: Settings) -> list[TopicSpec]:
    """What the supervisor writes besides task events and control messages."""
    topics = Topics(settings.namespace)
    return [
        _spec(settings, topics.supervisor_status, compacted=True),
        _spec(settings, topics.supervisor_outcomes),
    ]
