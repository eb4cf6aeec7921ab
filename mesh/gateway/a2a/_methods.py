"""One JSON-RPC call to one A2A agent -> its result (or its stream of results).

The A2A 1.0 methods, each on the agent's tasks (`_tasks.py`) or its push
notification configs (ADR 041).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from a2a.types import a2a_pb2
from a2a.utils.errors import TaskNotFoundError

from mesh.gateway.a2a import _wire as wire
from mesh.gateway.a2a._input import invalid
from mesh.gateway.a2a._rpc import RpcCall
from mesh.gateway.a2a._tasks import AgentTasks
from mesh.gateway.a2a.push import record_push_config
from schemas.envelope import new_id, utc_now
from schemas.gateway import A2APushConfig

JsonObject = dict[str, Any]


async def call_result(tasks: AgentTasks, call: RpcCall) -> JsonObject | None:
    """The result of a method that answers once."""
    params: Any = call.params
    if call.method == "SendMessage":
        state, after = await tasks.send(params)
        await _push_from_send(tasks, params, state.task_id)
        if not params.configuration.return_immediately:
            state = await tasks.wait_until_interrupted(state.task_id, after)
        return {"task": wire.task_of(state, history_length=_history(params.configuration))}
    if call.method == "GetTask":
        state = await tasks.task(params.id)
        return wire.task_of(state, history_length=_history(params))
    if call.method == "ListTasks":
        return tasks.list(params)
    if call.method == "CancelTask":
        return wire.task_of(await tasks.cancel(params.id))
    return await _push_method(tasks, call.method, params)


async def call_stream(tasks: AgentTasks, call: RpcCall) -> AsyncIterator[JsonObject | None]:
    """The results of a streaming method: the task first, then its updates (None: a
    keep-alive)."""
    params: Any = call.params
    if call.method == "SendStreamingMessage":
        state, after = await tasks.send(params)
        await _push_from_send(tasks, params, state.task_id)
        last = tasks.last_event_id(state.task_id) if after is not None else None
    else:  # SubscribeToTask
        state = await tasks.task(params.id)
        if state.status.is_terminal:
            reason = f"task {state.task_id!r} has ended ({state.status}): GetTask reads it"
            raise invalid("id", reason)
        after, last = utc_now(), tasks.last_event_id(state.task_id)
    yield {"task": wire.task_of(state)}
    async for update in tasks.follow(state.task_id, last_event_id=last, after=after):
        yield update


def _history(params: Any) -> int | None:
    return params.history_length if params.HasField("history_length") else None


# -- push notification configs -------------------------------------------------------------


async def _push_from_send(
    tasks: AgentTasks, params: a2a_pb2.SendMessageRequest, task_id: str
) -> None:
    if params.configuration.HasField("task_push_notification_config"):
        config = a2a_pb2.TaskPushNotificationConfig()
        config.CopyFrom(params.configuration.task_push_notification_config)
        config.task_id = task_id
        await _create_push(tasks, config)


async def _push_method(tasks: AgentTasks, method: str, params: Any) -> JsonObject | None:
    if method == "CreateTaskPushNotificationConfig":
        return await _create_push(tasks, params)
    state = await tasks.task(params.task_id)
    known = {
        config_id: config
        for config_id, config in tasks.gateway.view.push_configs.get(state.task_id, {}).items()
        if not config.deleted
    }
    if method == "ListTaskPushNotificationConfigs":
        return {"configs": [_config_json(config) for config in known.values()]}
    config = known.get(params.id)
    if config is None:
        raise TaskNotFoundError(f"id: task {state.task_id!r} has no push config {params.id!r}")
    if method == "GetTaskPushNotificationConfig":
        return _config_json(config)
    # DeleteTaskPushNotificationConfig
    deleted = config.model_copy(update={"deleted": True, "updated_at": utc_now()})
    await record_push_config(tasks.gateway.client.publisher, tasks.gateway.view, deleted)
    return None


async def _create_push(tasks: AgentTasks, params: a2a_pb2.TaskPushNotificationConfig) -> JsonObject:
    state = await tasks.task(params.task_id)
    if not params.url.startswith(("http://", "https://")):
        raise invalid("url", f"{params.url!r} is not an http(s) URL")
    config = A2APushConfig(
        task_id=state.task_id,
        config_id=params.id or new_id(),
        url=params.url,
        token=params.token,
        auth_scheme=params.authentication.scheme,
        auth_credentials=params.authentication.credentials,
        updated_at=utc_now(),
    )
    await record_push_config(tasks.gateway.client.publisher, tasks.gateway.view, config)
    return _config_json(config)


def _config_json(config: A2APushConfig) -> JsonObject:
    """The config as A2A shows it; the credentials are not sent back."""
    shown: JsonObject = {"id": config.config_id, "taskId": config.task_id, "url": config.url}
    if config.token:
        shown["token"] = config.token
    if config.auth_scheme:
        shown["authentication"] = {"scheme": config.auth_scheme}
    return shown
