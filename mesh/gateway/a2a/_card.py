"""An agent type's A2A agent card (A2A 1.0's JSON form)."""

from __future__ import annotations

from typing import Any

from mesh.gateway.a2a._rpc import PROTOCOL_VERSION
from schemas.tasks import AgentCard

INPUT_SCHEMA_EXTENSION = "urn:agentmesh:a2a:input-schema"
MODES = ["application/json", "text/plain"]


def agent_card(card: AgentCard, url: str) -> dict[str, Any]:
    """The card of `card`'s agent type, its JSON-RPC endpoint at `url`. The input
    schema travels as an extension's params: a data part is checked against it."""
    description = card.description or f"agentmesh agent type {card.name!r}"
    extension: dict[str, Any] = {
        "uri": INPUT_SCHEMA_EXTENSION,
        "description": "The JSON Schema a message's data part (the task input) must fit.",
        "required": False,
        "params": {"inputSchema": card.input_schema or {}},
    }
    return {
        "name": card.name,
        "description": description,
        "supportedInterfaces": [
            {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": PROTOCOL_VERSION}
        ],
        "provider": {"organization": "agentmesh", "url": url},
        "version": str(card.task_version or 1),
        "capabilities": {"streaming": True, "pushNotifications": True, "extensions": [extension]},
        "defaultInputModes": MODES,
        "defaultOutputModes": MODES,
        "skills": [
            {
                "id": card.task_type or card.name,
                "name": card.name,
                "description": description,
                "tags": [card.task_type or card.name],
                "inputModes": MODES,
                "outputModes": MODES,
            }
        ],
    }
