"""The gateway's one webhook attempt loop (both APIs): attempts counted on from an
earlier owner's, doubling pauses, given up after `MESH_GATEWAY_WEBHOOK_MAX_ATTEMPTS`;
each body signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest

from mesh.gateway._webhook_delivery import SIGNATURE_HEADER, WebhookPoster, signature
from mesh.settings import Settings

SETTINGS = Settings(
    gateway_webhook_secret="unit-secret",
    gateway_webhook_max_attempts=4,
    gateway_webhook_backoff=0.001,
)


@pytest.fixture
async def poster() -> AsyncIterator[WebhookPoster]:
    poster = WebhookPoster(SETTINGS)
    yield poster
    await poster.close()


class Attempts:
    """Answers each attempt with the next of `answers` (None: taken)."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.retries: list[tuple[int, str, float]] = []

    async def attempt(self) -> str | None:
        return self.answers.pop(0)

    async def on_retry(self, attempts: int, error: str, delay: float) -> None:
        self.retries.append((attempts, error, delay))


async def test_a_failed_attempt_is_tried_again_after_a_doubling_pause(
    poster: WebhookPoster,
) -> None:
    script = Attempts("HTTP 500", "HTTP 503", None)
    outcome = await poster.deliver(script.attempt, on_retry=script.on_retry)
    assert (outcome.delivered, outcome.attempts, outcome.error) == (True, 3, None)
    assert script.retries == [(1, "HTTP 500", 0.001), (2, "HTTP 503", 0.002)]


async def test_it_gives_up_after_the_last_attempt_counting_an_earlier_owners(
    poster: WebhookPoster,
) -> None:
    script = Attempts("HTTP 500", "ConnectError: refused")
    outcome = await poster.deliver(script.attempt, on_retry=script.on_retry, attempts_made=2)
    assert (outcome.delivered, outcome.attempts) == (False, 4)
    assert outcome.error == "ConnectError: refused"
    assert script.retries == [(3, "HTTP 500", 0.004)]  # none after the last attempt


async def test_each_post_is_signed_with_the_secret() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    poster = WebhookPoster(SETTINGS)
    await poster.close()
    poster._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    assert await poster.post("http://receiver/hook", b'{"a":1}', {"X-Extra": "x"}) is None
    await poster.close()
    [request] = seen
    expected = hmac.new(b"unit-secret", b'{"a":1}', hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert request.headers[SIGNATURE_HEADER] == signature("unit-secret", b'{"a":1}')
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Extra"] == "x"
