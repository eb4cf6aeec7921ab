"""The Kafka ACLs of each mesh principal, derived from the code that names topics.

A deployment gives each agent type, the supervisors and the gateways a Kafka user of
their own (ADR 045). What each may do is computed here from `mesh.topics` (the names
and the topic lists each process creates at start-up) and from the agents'
declarations (`delegates_to`, `emits`, the events they handle), never from a hand list:
a renamed topic or a new delegation changes the ACLs with it.

Least privilege, by Kafka's rules (KIP-11): Read on a group to consume in it; Read on a
topic to fetch it, Write to produce to it, Create for the topics a process creates when
missing (`ensure_topics`), Describe for offsets of a group or topic it only measures.
Read and Write imply Describe; Write on a topic implies the idempotent producer's
IdempotentWrite (Kafka 3.0+, KIP-679). Prefixed patterns only where a library names
the topics: the supervisor's faust app (its table changelogs).

`mesh kafka acls` prints them (mesh/security/render.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mesh.agent import Agent
from mesh.errors import SettingsError
from mesh.settings import Settings
from mesh.topics import (
    Topics,
    budget_topics,
    dead_letter_topics,
    domain_topic,
    gateway_topics,
    langgraph_topics,
    quota_topics,
    runtime_topics,
    schedule_topics,
    supervisor_topics,
    worker_topics,
)
from mesh.transport.base import TopicSpec

ResourceType = Literal["topic", "group", "cluster"]
PatternType = Literal["literal", "prefixed"]
Operation = Literal["Read", "Write", "Create", "Describe", "IdempotentWrite"]

# Kafka's implied operations: granting the key grants Describe too.
_IMPLIES_DESCRIBE = {"Read", "Write", "Delete", "Alter"}


@dataclass(frozen=True, order=True)
class Acl:
    """One allow rule: `operation` on the resources of `resource` type named `name`
    (exactly, or every name that starts with it when `pattern` is "prefixed")."""

    resource: ResourceType
    pattern: PatternType
    name: str
    operation: Operation

    def matches(self, resource: str, name: str) -> bool:
        if resource != self.resource:
            return False
        return name.startswith(self.name) if self.pattern == "prefixed" else name == self.name


@dataclass(frozen=True)
class Principal:
    """A Kafka user of the mesh (`User:<user>`) and its ACLs, sorted."""

    user: str
    runs: str  # what runs as it: `mesh run <spec>`, `mesh supervisor run`, `mesh gateway`
    acls: tuple[Acl, ...]

    def allows(self, resource: str, name: str, operation: str) -> bool:
        """Whether Kafka's authorizer lets this user do `operation` on the resource."""
        granted = {acl.operation for acl in self.acls if acl.matches(resource, name)}
        if operation in granted:
            return True
        if operation == "Describe" and granted & _IMPLIES_DESCRIBE:
            return True
        # KIP-679: an idempotent producer needs Write on some topic (no cluster ACL).
        return operation == "IdempotentWrite" and any(
            acl.resource == "topic" and acl.operation == "Write" for acl in self.acls
        )


class _Grants:
    """Collects ACLs; literal names unless told otherwise."""

    def __init__(self) -> None:
        self._acls: set[Acl] = set()

    def topics(self, operation: Operation, names: Iterable[str]) -> None:
        self._acls.update(Acl("topic", "literal", n, operation) for n in names)

    def groups(self, operation: Operation, names: Iterable[str]) -> None:
        self._acls.update(Acl("group", "literal", n, operation) for n in names)

    def create(self, specs: Iterable[TopicSpec]) -> None:
        self.topics("Create", (spec.name for spec in specs))

    def prefixed(self, resource: ResourceType, prefix: str, *operations: Operation) -> None:
        self._acls.update(Acl(resource, "prefixed", prefix, op) for op in operations)

    def sorted(self) -> tuple[Acl, ...]:
        """The ACLs without a Describe that a Read or Write of the same rule implies."""
        implying = {
            (a.resource, a.pattern, a.name) for a in self._acls if a.operation in ("Read", "Write")
        }
        kept = [
            acl
            for acl in self._acls
            if acl.operation != "Describe" or (acl.resource, acl.pattern, acl.name) not in implying
        ]
        return tuple(sorted(kept))


def user_name(role: str) -> str:
    """The Kafka user of an agent type (`agent-<name>`), `supervisor` or `gateway`,
    prefixed `mesh-`: a valid Kubernetes name, as Strimzi's KafkaUser needs."""
    return f"mesh-{role}".replace("_", "-")


def _mesh_services(settings: Settings, grants: _Grants, topics: Topics) -> None:
    """Rate limits (ADR 024) and budgets (ADR 025): any worker may host an allocator or
    a keeper, and every model-calling worker is a client of both."""
    grants.create([*quota_topics(settings), *budget_topics(settings)])
    grants.groups("Read", [topics.quota_allocators, topics.budget_keepers])
    shared = [topics.quota_requests, topics.quota_grants]
    shared += [topics.budget_requests, topics.budget_ledger, topics.budget_replies]
    grants.topics("Read", shared)
    grants.topics("Write", shared)


def agent_principal(settings: Settings, agent: Agent, deployment: Sequence[Agent]) -> Principal:
    """An agent type's user: consume its inbox, retry tiers and events in its group;
    write its lifecycle, journal, retries, dead letters and heartbeats, the inboxes of
    the agent types it delegates to and of those that delegate to it (outcomes go to
    the parent's inbox, ADR 001), and the domain events it emits; a delegating one
    reads the task events too (its children's progress, mesh/runtime/children.py)."""
    topics = Topics(settings.namespace)
    name = agent.name
    grants = _Grants()
    grants.create(
        worker_topics(settings, name, events=agent.event_types, delegates_to=agent.delegates_to)
    )
    grants.create(domain_topic(settings, t) for t in agent.emits)
    grants.groups("Read", [topics.group(name)])
    retries = [topics.retry(name, tier) for tier in settings.retry_tiers]
    consumed = [topics.inbox(name), *retries, *(topics.domain(t) for t in agent.event_types)]
    grants.topics("Read", [*consumed, topics.journal(name)])
    grants.topics("Read", [topics.circuits, topics.agent_pauses])  # followed
    if agent.delegates_to:  # `ctx.children_progress()` follows the children's events
        grants.topics("Read", [topics.task_events])
    parents = [a.name for a in deployment if name in a.delegates_to]
    grants.topics(
        "Write",
        [
            topics.task_events,
            topics.task_state,
            topics.task_tokens,
            topics.heartbeats,
            topics.agents,
            topics.journal(name),
            topics.dead_letters(name),
            *retries,
            *(topics.inbox(target) for target in agent.delegates_to),
            *(topics.inbox(parent) for parent in parents),
            *(topics.domain(t) for t in agent.emits),
        ],
    )
    _mesh_services(settings, grants, topics)
    return Principal(user_name(f"agent-{name}"), f"mesh run (agent {name!r})", grants.sorted())


def supervisor_principal(settings: Settings, deployment: Sequence[Agent]) -> Principal:
    """The supervisors' user: the faust app (its group and its own topics), the task
    events, heartbeats and outcomes it folds, the control topics it writes, the inboxes
    it re-dispatches, cancels and escalates to, the lag it measures, and the
    scheduler and pause board that run beside it."""
    topics = Topics(settings.namespace)
    grants = _Grants()
    grants.create([*runtime_topics(settings), *supervisor_topics(settings)])
    grants.create(schedule_topics(settings))
    grants.create(s for a in deployment for s in dead_letter_topics(settings, a.name))
    # faust names its changelog and assignor topics `<app id>-<table>-changelog`, etc.
    grants.prefixed("topic", f"{topics.supervisor_app}-", "Create", "Read", "Write")
    grants.groups("Read", [topics.supervisor_app, topics.schedulers])
    grants.topics(
        "Read",
        [
            topics.task_events,
            topics.heartbeats,
            topics.supervisor_outcomes,
            topics.task_state,
            topics.agents,
            topics.agent_liveness,
            topics.agent_pauses,
            topics.schedules,
            *(topics.dead_letter_purges(a.name) for a in deployment),
        ],
    )
    grants.topics(
        "Write",
        [
            topics.task_events,
            topics.task_state,
            topics.supervisor_outcomes,
            topics.supervisor_status,
            topics.heartbeats,  # its watermarks (`HeartbeatWatermark`)
            topics.circuits,
            topics.agent_liveness,
            topics.schedules,
            *(topics.inbox(a.name) for a in deployment),
        ],
    )
    _measured(settings, grants, topics, deployment)
    grants.groups("Describe", [topics.gateway_webhook_senders, topics.langgraph_queue_drivers])
    grants.topics("Describe", [topics.gateway_webhooks, topics.langgraph_threads])
    return Principal(user_name("supervisor"), "mesh supervisor run", grants.sorted())


def _measured(settings: Settings, grants: _Grants, topics: Topics, agents: Sequence[Agent]) -> None:
    """Describe on each agent type's group and the topics it consumes (lag, ADR 013)."""
    for agent in agents:
        retries = [topics.retry(agent.name, tier) for tier in settings.retry_tiers]
        consumed = [topics.inbox(agent.name), *retries, topics.dead_letters(agent.name)]
        grants.topics("Describe", [*consumed, *(topics.domain(t) for t in agent.event_types)])
        grants.groups("Describe", [topics.group(agent.name)])


def gateway_principal(settings: Settings, deployment: Sequence[Agent]) -> Principal:
    """The gateways' user: its view of the state, events, tokens and control topics;
    submit, steer, cancel, approve and replay into every agent type's inbox; publish
    the domain events the agents handle; webhooks, A2A push configs and LangGraph
    threads in their groups; dead letters read for the console."""
    topics = Topics(settings.namespace)
    grants = _Grants()
    events = sorted({t for a in deployment for t in a.event_types})
    grants.create([*runtime_topics(settings), *gateway_topics(settings)])
    grants.create([*supervisor_topics(settings), *langgraph_topics(settings)])
    grants.create(domain_topic(settings, t) for t in events)
    grants.create(s for a in deployment for s in dead_letter_topics(settings, a.name))
    owned = [topics.gateway_webhooks, topics.gateway_a2a_push, topics.langgraph_threads]
    grants.groups(
        "Read",
        [
            topics.gateway_webhook_senders,
            topics.gateway_a2a_push_senders,
            topics.langgraph_queue_drivers,
        ],
    )
    grants.topics(
        "Read",
        [
            *owned,
            topics.task_state,
            topics.task_events,
            topics.task_tokens,
            topics.agents,
            topics.agent_liveness,
            topics.agent_pauses,
            topics.circuits,
            topics.supervisor_status,
            *(topics.dead_letters(a.name) for a in deployment),
            *(topics.dead_letter_purges(a.name) for a in deployment),
        ],
    )
    grants.topics(
        "Write",
        [
            *owned,
            topics.task_state,
            topics.task_events,
            *(topics.inbox(a.name) for a in deployment),
            *(topics.domain(t) for t in events),
        ],
    )
    _measured(settings, grants, topics, deployment)  # the console's agents page
    return Principal(user_name("gateway"), "mesh gateway", grants.sorted())


def mesh_principals(settings: Settings, deployment: Sequence[Agent]) -> list[Principal]:
    """Every principal of a deployment running `deployment`'s agent types.

    Raises:
        SettingsError: two agent types would be one Kafka user (`a_b` and `a-b`).
    """
    agents = [agent_principal(settings, a, deployment) for a in deployment]
    by_user: dict[str, str] = {}
    for agent, principal in zip(deployment, agents, strict=True):
        other = by_user.setdefault(principal.user, agent.name)
        if other != agent.name:
            raise SettingsError(
                f"agent types {other!r} and {agent.name!r} would both be Kafka user "
                f"{principal.user!r} (ACLs shared between them): rename one"
            )
    return [
        *agents,
        supervisor_principal(settings, deployment),
        gateway_principal(settings, deployment),
    ]
