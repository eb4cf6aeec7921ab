"""How the gateway delivers a webhook, for the native API and the LangGraph API alike.

Each POST carries its body signed, `X-Mesh-Signature: sha256=<hex HMAC-SHA256 of the
body keyed by MESH_GATEWAY_WEBHOOK_SECRET>`, and is given
`MESH_GATEWAY_WEBHOOK_TIMEOUT` s. A non-2xx answer or an error is tried again after
`MESH_GATEWAY_WEBHOOK_BACKOFF` s, doubling, up to `MESH_GATEWAY_WEBHOOK_MAX_ATTEMPTS`
attempts in all. What a delivery is about (a task, a run), how its body is made and
where its progress is recorded stays with each API (native/webhooks.py,
langgraph/webhooks.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from mesh.gateway._problems import ProblemError
from mesh.settings import Settings

SIGNATURE_HEADER = "X-Mesh-Signature"  # "sha256=" + hex HMAC-SHA256(secret, body)
TASK_ID_HEADER = "X-Mesh-Task-Id"  # native webhooks: the receiver deduplicates by it

# One attempt: None when the receiver took it, else what went wrong.
Attempt = Callable[[], Awaitable[str | None]]
# Called after a failed attempt that will be tried again: (attempts so far, the
# error, seconds until the next one).
OnRetry = Callable[[int, str, float], Awaitable[None]]


def refuse_without_secret(settings: Settings) -> None:
    """422 for a request with a webhook while no secret would sign its deliveries."""
    if not settings.gateway_webhook_secret.get_secret_value():
        raise ProblemError(422, "body.webhook", "this gateway has no MESH_GATEWAY_WEBHOOK_SECRET")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a delivery ended: delivered, or given up on after `attempts` with `error`."""

    delivered: bool
    attempts: int  # in all, those of earlier owners included
    error: str | None


class WebhookPoster:
    """Signs and POSTs webhook bodies, and tries each delivery until it is taken or
    out of attempts. `close` it when done (it holds an HTTP client)."""

    def __init__(self, settings: Settings) -> None:
        self._secret = settings.gateway_webhook_secret
        self.max_attempts = settings.gateway_webhook_max_attempts
        self._backoff = settings.gateway_webhook_backoff
        self._http = httpx.AsyncClient(timeout=settings.gateway_webhook_timeout)

    async def close(self) -> None:
        await self._http.aclose()

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt."""
        return float(self._backoff * 2 ** (attempts - 1))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        """One signed POST of the JSON `body` (with `headers` besides the signature);
        None when the receiver took it (2xx), else what went wrong."""
        secret = self._secret.get_secret_value()
        signed = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret, body),
            **headers,
        }
        try:
            response = await self._http.post(url, content=body, headers=signed)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return None
        return f"HTTP {response.status_code}"

    async def deliver(
        self, attempt: Attempt, *, on_retry: OnRetry, attempts_made: int = 0
    ) -> Outcome:
        """Call `attempt` until it succeeds or `max_attempts` (counting the
        `attempts_made` before, by an earlier owner) are spent; `on_retry` after each
        failure that will be tried again, before the pause."""
        attempts = attempts_made
        while True:
            attempts += 1
            error = await attempt()
            if error is None:
                return Outcome(delivered=True, attempts=attempts, error=None)
            if attempts >= self.max_attempts:
                return Outcome(delivered=False, attempts=attempts, error=error)
            delay = self.retry_delay(attempts)
            await on_retry(attempts, error, delay)
            await asyncio.sleep(delay)
