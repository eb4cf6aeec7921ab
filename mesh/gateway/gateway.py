"""`Gateway`: what every route of the gateway shares, and its readiness.

The routers reach it through one FastAPI dependency (`mesh/gateway/_deps.py`); the app
(`mesh/gateway/app.py`) makes it and includes the routers, which never import the app.
"""

from __future__ import annotations

from collections.abc import Sequence

from mesh.client import Client
from mesh.gateway._changes import TaskChanges
from mesh.gateway._view import GatewayView
from mesh.gateway.a2a.push import PushSender
from mesh.gateway.native.webhooks import WebhookSender
from mesh.settings import Settings
from mesh.topics import (
    Topics,
    gateway_topics,
    langgraph_topics,
    runtime_topics,
    supervisor_topics,
)
from mesh.views.follower import SharedFollowers, TopicFollower
from mesh.views.tokens import TokenFeed

# /readyz: a view further behind than this (seconds to catch up) takes no traffic.
READY_CATCH_UP_SECONDS = 2.0


class Gateway:
    """What every route shares: a mesh client (producer + materialized view).

    `client.view` is a `GatewayView` (tasks, their events and webhooks, indexed);
    `webhooks` delivers the completion webhooks of this replica's share; `tokens`
    holds the streamed model output of running tasks (ADR 022); `a2a_push` sends the
    A2A push notifications of this replica's share (ADR 041); `changes` tells
    live task lists which tasks changed (ADR 042).

    `followers` reads the view, the token feed and `also_follow` (the LangGraph
    thread store) through one consumer (ADR 053): the process holds one fetch at the
    broker for all of them, where it held one each.
    """

    def __init__(
        self,
        client: Client,
        settings: Settings,
        *,
        owns_transport: bool,
        also_follow: Sequence[TopicFollower] = (),
    ) -> None:
        """`also_follow`: more followers of the process, read with the view; their
        topics exist once `start` has ensured the gateway's (LangGraph's included)."""
        assert isinstance(client.view, GatewayView), "create_app gives the client its view"
        self.client = client
        self.settings = settings
        self.view: GatewayView = client.view
        self.webhooks = WebhookSender(client.transport, settings, self.view, client.publisher)
        self.tokens = TokenFeed(client.transport, Topics(settings.namespace))
        self._also_followed = list(also_follow)
        self.followers = SharedFollowers(
            client.transport, [self.view, self.tokens, *also_follow], name="gateway-followers"
        )
        self.a2a_push = PushSender(
            client.transport, settings, self.view, Topics(settings.namespace)
        )
        self.changes = TaskChanges()
        self.view.state_listeners.append(self.changes.record)
        self._owns_transport = owns_transport
        self._started = False

    async def start(self) -> None:
        """Start the Kafka parts; again, once started, does nothing (`mesh gateway` starts
        them before serving, so a broker problem is one line, and the lifespan after)."""
        if self._started:
            return
        self._started = True
        if self._owns_transport:
            await self.client.transport.start()
        # The view also reads the supervisors' status (the console's agents page).
        settings = self.settings
        topics = [
            *runtime_topics(settings),
            *gateway_topics(settings),
            *supervisor_topics(settings),
            *langgraph_topics(settings),
        ]
        await self.client.transport.ensure_topics(topics)
        # Every follower's topics exist: one consumer for them all. The token feed
        # reads from the tokens topic's end (live tokens only).
        await self.followers.start()
        try:
            await self.client.start()  # returns once the view has caught up
            for follower in self._also_followed:
                await follower.catch_up()
        except BaseException:
            await self.followers.stop()
            raise
        await self.webhooks.start()
        await self.a2a_push.start()

    async def stop(self) -> None:
        self._started = False
        await self.a2a_push.stop()
        await self.webhooks.stop()
        await self.client.stop()
        await self.followers.stop()
        if self._owns_transport:
            await self.client.transport.stop()

    async def not_ready_reason(self) -> str | None:
        """Why this replica should get no traffic yet, or None when it is ready."""
        if not self.view.following:
            return "the task view stopped following the topics"
        if not self.tokens.following:
            return "the token feed stopped following the tokens topic"
        if not self.webhooks.running:
            return f"the webhook sender stopped: {self.webhooks.failure}"
        if not self.a2a_push.running:
            return "the A2A push notification sender stopped"
        if self.webhooks.failure is not None:
            return f"the webhook sender is restarting after: {self.webhooks.failure}"
        try:
            await self.view.catch_up(timeout=READY_CATCH_UP_SECONDS)
        except TimeoutError:
            return f"the task view is more than {READY_CATCH_UP_SECONDS:g} s behind the topics"
        return None
