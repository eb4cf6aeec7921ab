"""How every Kafka client of a process connects: its address, security settings and
TLS context (aiokafka's clients here; faust's take the same TLS context)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Any

from mesh.errors import SettingsError, TransportError
from mesh.settings import Settings


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """A context that verifies the brokers against MESH_SSL_CAFILE (else the system's
    CAs), as aiokafka's `create_ssl_context` makes it.

    Raises:
        SettingsError: MESH_SSL_CAFILE names no readable PEM file; said at start-up,
            not at the first connection.
    """
    cafile = settings.ssl_cafile
    try:
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except ssl.SSLError as exc:  # an OSError too: first
        raise SettingsError(
            f"MESH_SSL_CAFILE={cafile!r} holds no usable CA certificate ({exc.reason}): "
            "point it at the PEM file of the CA that signed the brokers' certificates"
        ) from None
    except OSError as exc:
        raise SettingsError(
            f"MESH_SSL_CAFILE={cafile!r} cannot be read ({exc.strerror or exc}): point it "
            "at the PEM file of the CA that signed the brokers' certificates"
        ) from None


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection options shared by producer, consumers and the admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "request_timeout_ms": int(settings.request_timeout * 1000),
        "client_id": f"agentmesh-{settings.instance_id}",
    }
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    if settings.ssl_cafile or settings.security_protocol.endswith("SSL"):
        options["ssl_context"] = kafka_ssl_context(settings)
    return options


@contextlib.contextmanager
def refused_authentication(settings: Settings) -> Iterator[None]:
    """A client's first connection, with its SASL failures as a `TransportError`.

    Kafka refuses bad credentials with an error code aiokafka raises as a KafkaError;
    a broker that ends the SCRAM exchange with an RFC 5802 error (`e=...`) instead
    makes aiokafka's SCRAM client fail on the missing server signature (KeyError 'v').
    """
    try:
        yield
    except (KeyError, ValueError) as exc:
        if not settings.sasl_mechanism:
            raise
        raise TransportError(
            f"the broker at {settings.bootstrap_servers!r} refused "
            f"{settings.sasl_mechanism} authentication as {settings.sasl_username!r} "
            f"({type(exc).__name__}: {exc} in its SCRAM exchange): check "
            "MESH_SASL_USERNAME and MESH_SASL_PASSWORD"
        ) from exc
