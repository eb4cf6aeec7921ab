"""What a worker does once as it starts, before it consumes: make sure the topics it
reads and writes exist, and publish its agent card (what `mesh agents`, the gateway
and other producers read to learn what the agent type takes)."""

from __future__ import annotations

from mesh.agent import Agent
from mesh.budgets import Budgets
from mesh.models.budgets import ModelBudgets
from mesh.models.clients import ModelClients
from mesh.models.limits import ModelLimits
from mesh.quota import Quota
from mesh.runtime.publisher import Publisher
from mesh.settings import Settings
from mesh.topics import worker_topics
from mesh.transport.base import TopicSpec, Transport
from schemas import Envelope
from schemas.envelope import utc_now
from schemas.tasks import AGENT_CARD, AgentCard


def topics_needed(settings: Settings, agent: Agent) -> list[TopicSpec]:
    """The topics `agent`'s worker creates when missing (`mesh.topics.worker_topics`)."""
    return worker_topics(
        settings, agent.name, events=agent.event_types, delegates_to=agent.delegates_to
    )


async def publish_card(publisher: Publisher, agent: Agent) -> None:
    """Publish the agent's card to the agents topic, keyed by the agent's name."""
    handler = agent.task_handler
    card = AgentCard(
        name=agent.name,
        description=agent.description,
        task_type=handler.message_type if handler else None,
        task_version=handler.version if handler else None,
        input_schema=handler.model.model_json_schema() if handler else None,
        events=agent.event_types,
        delegates_to=list(agent.delegates_to),
        updated_at=utc_now(),
    )
    envelope = Envelope(
        type=AGENT_CARD, source=publisher.source, payload=card.model_dump(mode="json")
    )
    await publisher.send(publisher.topics.agents, envelope, key=agent.name)


async def start_rate_limits(
    transport: Transport, settings: Settings, models: ModelClients
) -> Quota | None:
    """With MESH_MODEL_LIMITS set, join the mesh's rate-limit allocators and put this
    process's model calls under them (ADR 024); else None and calls are not limited.
    Either way, model calls can draw from budgets (ADR 025)."""
    # Budgets start on first use (mesh/budgets/service.py): nothing to pay until then.
    models.budgets = ModelBudgets(settings, Budgets(transport, settings))
    if not settings.model_limits:
        return None
    quota = Quota(transport, settings)
    await quota.start()
    models.limits = ModelLimits(settings, quota.client)
    return quota
