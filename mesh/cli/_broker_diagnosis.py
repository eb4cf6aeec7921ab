"""What a command says when it cannot connect: which broker it tried, and what to do.

A newcomer's "cannot reach the broker" has three usual causes, each with its own
fix: no broker was configured and no dev mesh runs here (start `make dev`), the
dev mesh named by `.mesh/dev.env` is gone or still starting, or the broker answers
but refuses the idempotent producer (the embedded broker cannot grant producer ids).
A short probe tells the last one from a broker that does not answer at all.
"""

from __future__ import annotations

import asyncio
import contextlib

from mesh.dev.env_file import DEV_ENV, DevMesh
from mesh.errors import BrokerUnreachable, TransportError
from mesh.settings import Settings

_PROBE_SECONDS = 2.0
_NOTHING_LISTENS = "nothing listens there"


def stale_dev_mesh(dev: DevMesh) -> BrokerUnreachable:
    """The error for a dev env file whose `mesh dev` is gone."""
    return BrokerUnreachable(
        f"{dev.describe()} is not running (that `mesh dev` did not stop cleanly): "
        "start `make dev` again, or set MESH_BOOTSTRAP_SERVERS"
    )


async def diagnose(
    failure: TransportError, settings: Settings, *, dev: DevMesh | None, configured: bool
) -> BrokerUnreachable:
    """Why connecting to `settings.bootstrap_servers` failed, as one actionable message.

    Args:
        failure: What the transport raised.
        dev: The dev mesh whose settings the command took, if any.
        configured: True when MESH_BOOTSTRAP_SERVERS was set by the user.
    """
    address = settings.bootstrap_servers
    serving, reason = await _probe(address, settings)
    cause = failure.__cause__
    refused = f"{type(cause).__name__}: {cause}" if cause is not None else str(failure)
    if dev is not None:
        if serving:
            return BrokerUnreachable(f"{dev.describe()} refused the connection: {refused}")
        return BrokerUnreachable(
            f"{dev.describe()} does not answer ({reason}); wait until `make dev` says "
            "it is up, or restart it"
        )
    if not configured:
        return BrokerUnreachable(
            f"no broker configured and no dev mesh running here (no {DEV_ENV} in this "
            "directory or above): start `make dev` in another terminal, or set "
            f"MESH_BOOTSTRAP_SERVERS (tried the default {address}: {reason})"
        )
    if serving and settings.idempotent_producer:
        return BrokerUnreachable(
            f"the broker at {address} answers but refused a producer id for the "
            "idempotent producer: set MESH_IDEMPOTENT_PRODUCER=false for a broker that "
            f"cannot grant them, as the embedded one (`make dev`) cannot ({refused})"
        )
    if serving:
        return BrokerUnreachable(f"the broker at {address} refused the connection: {refused}")
    if reason != _NOTHING_LISTENS and settings.security_protocol != "PLAINTEXT":
        return BrokerUnreachable(_security_refused(settings, reason))
    return BrokerUnreachable(
        f"cannot reach the broker at {address} (MESH_BOOTSTRAP_SERVERS): {reason}"
    )


async def _probe(address: str, settings: Settings) -> tuple[bool, str]:
    """(True, "") if a broker serves metadata at `address`, else (False, why not)."""
    from mesh.transport.kafka.options import client_options
    from mesh.transport.kafka.probe import wait_until_serving

    if not await _anything_listens(address):
        return False, _NOTHING_LISTENS
    given = client_options(settings)  # the security settings; the probe sets the rest
    ours = ("bootstrap_servers", "request_timeout_ms")
    options = {k: v for k, v in given.items() if k not in ours}
    try:
        await wait_until_serving(address, timeout=_PROBE_SECONDS, options=options)
    except TimeoutError as exc:
        return False, str(exc).rpartition("last error: ")[2].rstrip(")")
    except (KeyError, ValueError) as exc:  # aiokafka's SCRAM client on a refusal
        return False, f"its SCRAM exchange ended in {type(exc).__name__}: {exc}"
    return True, ""


def _security_refused(settings: Settings, reason: str) -> str:
    """A broker listens but the connection with the security settings failed."""
    how = f"MESH_SECURITY_PROTOCOL={settings.security_protocol}"
    if settings.sasl_mechanism:
        how += f", MESH_SASL_MECHANISM={settings.sasl_mechanism} as {settings.sasl_username!r}"
    return (
        f"a broker listens at {settings.bootstrap_servers} but the connection with {how} "
        f"failed ({reason}): check that its listener takes this protocol and mechanism, "
        "and MESH_SASL_USERNAME/MESH_SASL_PASSWORD (or MESH_SSL_CAFILE)"
    )


async def _anything_listens(address: str) -> bool:
    """True if any of the comma-separated host:port pairs accepts a TCP connection
    (answered at once when refused, where the Kafka probe would retry until its end)."""
    for item in address.split(","):
        host, _, port = item.strip().rpartition(":")
        if not port.isdigit():
            return True  # malformed: let the probe say so
        try:
            async with asyncio.timeout(_PROBE_SECONDS):
                _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False
