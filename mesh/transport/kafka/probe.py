"""Readiness probe: wait until a Kafka-protocol broker answers metadata requests.

Used by the embedded broker and `mesh dev` before anything else connects. This is,
with `mesh.transport.kafka.adapter`, one of the two modules allowed to import aiokafka.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

# One attempt may hang on a socket that accepts but never answers (a broker still
# booting, or SIGSTOPped); cap each attempt so later attempts still get a turn.
_MAX_ATTEMPT_SECONDS = 5.0


def _addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    """Split "host:port,host2:port2" (IPv6 hosts in brackets) into (host, port) pairs."""
    pairs = []
    for item in bootstrap_servers.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"bad bootstrap address {item!r} (expected host:port)")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


async def _tcp_reachable(addresses: list[tuple[str, int]]) -> bool:
    """True if any address accepts a plain TCP connection."""
    for host, port in addresses:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


async def _metadata_served(
    bootstrap_servers: str, request_timeout: float, options: Mapping[str, Any]
) -> None:
    """One Kafka attempt: bootstrap (a metadata fetch) plus `list_topics`; raises on failure."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=max(1, int(request_timeout * 1000)),
        **options,
    )
    try:
        await admin.start()
        await admin.list_topics()
    finally:
        # Runs on failure and on cancellation too, so no connection or task leaks.
        await admin.close()


async def wait_until_serving(
    bootstrap_servers: str,
    *,
    # A deadline parameter on purpose: the probe retries inside it (ASYNC109).
    timeout: float,
    poll_interval: float = 0.1,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Wait until a broker at `bootstrap_servers` serves Kafka metadata.

    Each round first tries a plain TCP connect and only then a Kafka client, because
    aiokafka logs every refused connection at ERROR level; while the port is still
    closed the probe stays quiet.

    Args:
        bootstrap_servers: Comma-separated "host:port" list.
        timeout: Total seconds to wait.
        poll_interval: Seconds between attempts.
        options: Extra `AIOKafkaAdminClient` keyword arguments (security settings).

    Raises:
        TimeoutError: No broker served metadata within `timeout`; the message names
            the address, the timeout and the last error seen.
        ValueError: `bootstrap_servers` is malformed.
    """
    addresses = _addresses(bootstrap_servers)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error = "port closed"
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(
                f"no Kafka broker serving at {bootstrap_servers} after {timeout:g}s "
                f"(last error: {last_error})"
            )
        attempt = min(remaining, _MAX_ATTEMPT_SECONDS)
        try:
            async with asyncio.timeout(attempt):
                if await _tcp_reachable(addresses):
                    await _metadata_served(bootstrap_servers, attempt, options or {})
                    return
                last_error = "port closed"
        except TimeoutError:
            last_error = f"no answer within {attempt:.1f}s"
        except (OSError, KafkaError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(max(0.0, min(poll_interval, deadline - loop.time())))
