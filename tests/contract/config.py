"""What the behaviour suites need of a transport, provided once per transport.

A runner module (tests/memory/test_behaviour_memory.py, tests/broker/test_behaviour_broker.py)
subclasses `TransportConfig` once and mixes it into every suite, the way FastStream's
shared broker tests take a `*TestcaseConfig` per broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from mesh.settings import Settings
from mesh.transport.base import Transport
from tests.contract.transport_behaviour import DeleteRecords

Factory = Callable[[], Transport]


class TransportConfig:
    """Subclasses override `transport_factory`, `settings` and `delete_records`; the
    started `transport` is made from the factory."""

    @pytest.fixture
    def transport_factory(self) -> Factory:
        raise NotImplementedError("a transport config provides transport_factory")

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError("a transport config provides settings")

    @pytest.fixture
    def delete_records(self) -> DeleteRecords:
        raise NotImplementedError("a transport config provides delete_records")

    @pytest.fixture
    async def transport(self, transport_factory: Factory) -> AsyncIterator[Transport]:
        transport = transport_factory()
        await transport.start()
        yield transport
        await transport.stop()
