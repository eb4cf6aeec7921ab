"""The rate limits' pure parts with an injected clock (ADR 024): the division by
demand, an allocator's ledger, and the local token buckets and priority queue."""

from __future__ import annotations

import asyncio

import pytest

from mesh.errors import SettingsError
from mesh.quota.bucket import Gate, TokenBucket
from mesh.quota.ledger import ResourceLedger
from mesh.quota.messages import Demand
from mesh.quota.share import divide, max_min
from mesh.settings import load_settings
from mesh.topics import quota_topics
from mesh.transport.kafka._topics import new_topic

# -- the division ----------------------------------------------------------------------


def test_max_min_gives_small_demands_in_full_and_splits_the_rest_equally() -> None:
    assert max_min(100, {"a": 10, "b": 60, "c": 80}) == {"a": 10, "b": 45, "c": 45}
    assert max_min(100, {"a": 10, "b": 20}) == {"a": 10, "b": 20}
    assert max_min(100, {"a": 0, "b": 500}) == {"a": 0, "b": 100}


def test_an_idle_client_gets_nothing_and_a_busy_one_gets_the_capacity() -> None:
    shares = divide(600, {"idle": {}, "busy": {0: 900}, "quiet": {0: 0}})
    assert shares == {"idle": 0, "busy": 600, "quiet": 0}


def test_capacity_nobody_asked_for_goes_to_those_asking_anything() -> None:
    shares = divide(600, {"a": {0: 100}, "b": {0: 200}, "idle": {}})
    assert shares == {"a": 250, "b": 350, "idle": 0}


def test_higher_priority_demand_is_served_first() -> None:
    demands = {"low": {0: 500}, "high": {5: 400}, "mixed": {5: 100, 0: 500}}
    shares = divide(600, demands)
    # band 5 takes 500 of 600 (high 400, mixed 100); band 0 splits the last 100.
    assert shares == {"low": 50, "high": 400, "mixed": 150}
    assert sum(shares.values()) == pytest.approx(600)


# -- an allocator's ledger ---------------------------------------------------------------


def _report(client: str, wants: float, *, now: float = 0.0, **extra: object) -> Demand:
    return Demand(
        client=client,
        resource="r",
        capacity={"requests": 600},
        wants={"requests": {0: wants}},
        sent_at=now,
        **extra,  # type: ignore[arg-type]
    )


def test_the_live_grants_never_sum_above_the_capacity_and_a_newcomer_gets_its_share() -> None:
    ledger = ResourceLedger("r", lease=5)
    (first,) = ledger.report(_report("a", 900), now=0)
    assert first.rates == {"requests": 600}
    grants = ledger.report(_report("b", 900), now=1)
    by_client = {g.client: g.rates["requests"] for g in grants}
    assert by_client == {"b": 300, "a": 300}  # a's smaller grant is pushed at once
    assert ledger.granted()["requests"] == pytest.approx(600)
    assert grants[1].lease == pytest.approx(4)  # what is left of a's lease, not a new one


def test_a_client_silent_for_a_lease_is_forgotten_and_its_share_freed() -> None:
    ledger = ResourceLedger("r", lease=5)
    ledger.report(_report("a", 900), now=0)
    ledger.report(_report("b", 900), now=1)
    (grant,) = ledger.report(_report("b", 900), now=5.5)
    assert set(ledger.clients) == {"b"}
    assert grant.rates == {"requests": 600}


def test_a_learning_ledger_only_renews_what_clients_hold() -> None:
    ledger = ResourceLedger("r", lease=5, learning_until=5)
    (a,) = ledger.report(_report("a", 900, has={"requests": 400}), now=0)
    (b,) = ledger.report(_report("b", 900, has={"requests": 500}), now=1)
    (c,) = ledger.report(_report("c", 900), now=2)
    assert (a.rates, b.rates, c.rates) == ({"requests": 400}, {"requests": 200}, {"requests": 0})
    (c,) = ledger.report(_report("c", 900), now=5.5)
    assert set(ledger.clients) == {"b", "c"}  # a's lease ended at 5
    assert c.rates == {"requests": 300}  # learnt: dividing by demand, half each


def test_a_pause_goes_to_every_live_client_at_once() -> None:
    ledger = ResourceLedger("r", lease=5)
    ledger.report(_report("a", 900), now=0)
    ledger.report(_report("b", 900), now=0)
    grants = ledger.report(_report("a", 900, pause=20.0), now=1)
    assert {g.client: g.pause for g in grants} == {"a": 20.0, "b": 20.0}


# -- local enforcement -----------------------------------------------------------------


def test_a_token_bucket_refills_at_its_rate_and_lets_a_large_take_run_into_debt() -> None:
    bucket = TokenBucket(10, now=0)  # 10 per second, a burst of 10
    assert not bucket.can_take(1, now=0)
    assert bucket.wait(1, now=0) == pytest.approx(0.1)
    assert bucket.can_take(1, now=0.1)
    assert bucket.level(now=5) == 10  # capped at the burst
    assert bucket.can_take(50, now=5)  # more than the burst: admitted at a full burst
    bucket.take(50, now=5)
    assert bucket.wait(1, now=5) == pytest.approx(4.1)  # the debt delays the next
    bucket.give_back(30, now=5)  # it used 20 of its 50
    assert bucket.level(now=5) == pytest.approx(-10)


async def _gate(granted: float, *, now: float = 0.0) -> Gate:
    gate = Gate({"requests": 600, "tokens": 6000}, window=2)
    gate.grant({"requests": granted, "tokens": 6000}, lease=5, now=now)
    return gate


async def test_a_gate_admits_by_priority_then_first_come() -> None:
    gate = await _gate(60)  # one request per second
    loop = asyncio.get_running_loop()
    order = []
    for name, priority in [("low-1", 0), ("high", 5), ("low-2", 0), ("mid", 3)]:
        future = loop.create_future()
        gate.enqueue({"requests": 1, "tokens": 10}, priority, future)
        order.append((name, future))
    admitted = []
    for second in range(1, 6):
        admitted += [w.priority for w in gate.admit(now=float(second))]
    assert admitted == [5, 3, 0, 0]
    assert gate.next_check(now=5) is None  # nobody waits


async def test_a_gate_admits_nothing_without_a_live_lease_or_while_paused() -> None:
    gate = await _gate(600)
    future = asyncio.get_running_loop().create_future()
    gate.enqueue({"requests": 1}, 0, future)
    gate.pause(until=2.0)
    assert gate.admit(now=1.0) == []
    assert gate.next_check(now=1.0) == pytest.approx(1.0)
    assert len(gate.admit(now=2.0)) == 1
    gate.enqueue({"requests": 1}, 0, asyncio.get_running_loop().create_future())
    assert gate.admit(now=6.0) == []  # the lease ended at 5
    assert gate.next_check(now=6.0) is None  # until a new grant


async def test_a_waiter_that_left_is_skipped_and_demand_counts_use_and_waiting() -> None:
    gate = await _gate(60)
    loop = asyncio.get_running_loop()
    gone = loop.create_future()
    gate.enqueue({"requests": 1}, 9, gone)
    gone.cancel()  # timed out
    gate.enqueue({"requests": 1}, 0, loop.create_future())
    assert [w.priority for w in gate.admit(now=1.0)] == [0]
    gate.enqueue({"requests": 1}, 2, loop.create_future())
    wants = gate.demand(now=1.0)
    assert wants["requests"] == {0: 30.0, 2: 30.0}  # per minute over a 2 s window


def test_a_limit_needs_rpm_or_tpm_above_zero_and_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="MESH_MODEL_LIMITS"):
        load_settings(model_limits={"m": {}})
    with pytest.raises(SettingsError, match="MESH_MODEL_LIMITS"):
        load_settings(model_limits={"m": {"rpm": 0}})
    with pytest.raises(SettingsError, match="MESH_MODEL_LIMITS_LEASE"):
        load_settings(model_limits_refresh=2.0, model_limits_lease=3.0)
    assert load_settings(model_limits={"m": {"tpm": 1000}}).model_limits["m"].rpm is None


def test_the_quota_topics_roll_segments_as_often_as_they_expire() -> None:
    # Every process reads the grants from their start: retention must take effect,
    # and Kafka deletes only closed segments (rolled weekly by default).
    for spec in quota_topics(load_settings()):
        configs = new_topic(spec).topic_configs
        assert configs["segment.ms"] == configs["retention.ms"] == "600000"
