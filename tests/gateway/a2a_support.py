"""Helpers of the A2A tests: the real a2a-sdk client on an agent type of the gateway."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from a2a.client import Client, ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    Task,
)
from google.protobuf.json_format import MessageToDict, ParseDict


@contextlib.asynccontextmanager
async def a2a_client(
    gateway_url: str,
    agent: str,
    *,
    streaming: bool = False,
    polling: bool = False,
    api_key: str | None = None,
) -> AsyncIterator[Client]:
    """A client of the agent type's A2A agent, made from its agent card (fetched);
    sending `api_key` (X-Api-Key) to a gateway with auth on."""
    headers = {"A2A-Version": "1.0"} | ({"X-Api-Key": api_key} if api_key else {})
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        config = ClientConfig(streaming=streaming, polling=polling, httpx_client=http)
        client = await create_client(f"{gateway_url}/a2a/{agent}", client_config=config)
        try:
            yield client
        finally:
            await client.close()


def message(
    *,
    text: str | None = None,
    data: dict[str, Any] | None = None,
    task_id: str = "",
    context_id: str = "",
) -> Message:
    parts = []
    if text is not None:
        parts.append(Part(text=text))
    if data is not None:
        parts.append(ParseDict({"data": data}, Part()))
    return Message(
        message_id=uuid.uuid4().hex,
        role=Role.ROLE_USER,
        parts=parts,
        task_id=task_id,
        context_id=context_id,
    )


def request(
    sent: Message, configuration: SendMessageConfiguration | None = None
) -> SendMessageRequest:
    return SendMessageRequest(message=sent, configuration=configuration)


async def send(client: Client, sent: SendMessageRequest) -> list[StreamResponse]:
    return [response async for response in client.send_message(sent)]


async def send_for_task(client: Client, sent: SendMessageRequest) -> Task:
    """The task a (non-streaming) send answers with."""
    (response,) = await send(client, sent)
    assert response.HasField("task"), response
    return response.task


def data_of(task: Task) -> dict[str, Any]:
    """The result artifact's data part."""
    for artifact in task.artifacts:
        for part in artifact.parts:
            if part.HasField("data"):
                value: dict[str, Any] = MessageToDict(part.data)
                return value
    raise AssertionError(f"no data artifact in {task}")
