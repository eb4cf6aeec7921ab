"""Topic and consumer-group names: the one place they are spelled.

Every name is prefixed by the settings' namespace (when set), which is how tests
and side-by-side meshes get their own topics and groups on one cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        agent's tasks (mesh/journal.py), partitioned like its inbox."""
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
    def agent_liveness(self) -> str:
        """Compacted: each agent type's live worker count, by agent type (on change)."""
        return self._name("mesh.agents.live")

    @property
    def supervisor_status(self) -> str:
        """Compacted: the latest status snapshot of each supervisor instance."""
        return self._name("mesh.supervisor.status")

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

    def group(self, agent: str) -> str:
        """One consumer group per agent type: more processes share its partitions."""
        return self._name(f"mesh.{agent}")
