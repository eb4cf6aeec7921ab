"""Agents for the fault tests: an order agent that delegates a charge to a payments
agent, whose side effect goes through a durable step into a SQLite ledger.

The ledger (its path in CHAOS_LEDGER) is the outside system: `charges` honours the
step's idempotency key, as the `ctx.step` contract asks of the systems a step calls;
`calls` logs every call of the step's function, so a test can tell a step the
journal replayed from one that ran again.

The handlers' random pauses come from `RNG`, seeded from CHAOS_SEED (set by the chaos
test, from its printed seed) and the process's instance id, so a failing run can be
replayed; unset, the seed is fresh.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3

from pydantic import BaseModel

from mesh import Agent, RetryPolicy, TaskContext
from schemas import REGISTRY

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (step_key TEXT PRIMARY KEY, order_id TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS calls (step_key TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS runs (task_id TEXT, agent TEXT, pid INTEGER);
"""


@REGISTRY.register("chaos.order", 1)
class Order(BaseModel):
    order_id: str


@REGISTRY.register("chaos.basket", 1)
class Basket(BaseModel):
    order_id: str
    items: int


@REGISTRY.register("chaos.pick", 1)
class Pick(BaseModel):
    n: int
    fail: bool = False  # fails every attempt while the file PICKY_BROKEN exists


@REGISTRY.register("chaos.nap", 1)
class Nap(BaseModel):
    order_id: str
    seconds: float


@REGISTRY.register("chaos.charge", 1)
class Charge(BaseModel):
    order_id: str


orders = Agent("chaos-orders", delegates_to=["chaos-payments"])
shop = Agent("chaos-shop", delegates_to=["chaos-payments"])
sleepy = Agent("chaos-sleepy")
picky = Agent("chaos-picky", retry=RetryPolicy(max_attempts=2, initial_delay=0.1, max_delay=0.2))
payments = Agent("chaos-payments")

_SEED = os.environ.get("CHAOS_SEED")
RNG = random.Random(f"{_SEED}/{os.environ.get('MESH_INSTANCE_ID', '')}" if _SEED else None)


def _ledger() -> sqlite3.Connection:
    db = sqlite3.connect(os.environ["CHAOS_LEDGER"], timeout=60, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    return db


def _note_run(ctx: TaskContext) -> int:
    """Log this run of the task; returns how many runs it has had."""
    with _ledger() as db:
        db.execute("INSERT INTO runs VALUES (?, ?, ?)", (ctx.task_id, ctx.agent.name, os.getpid()))
        row = db.execute("SELECT COUNT(*) FROM runs WHERE task_id = ?", (ctx.task_id,)).fetchone()
    return int(row[0])


@orders.task
async def place(ctx: TaskContext, order: Order) -> dict[str, object]:
    _note_run(ctx)
    child = await ctx.delegate("chaos-payments", Charge(order_id=order.order_id))
    await asyncio.sleep(RNG.uniform(0.1, 0.5))
    charged = await child
    return {"order_id": order.order_id, "charge": charged["charge"]}


@shop.task
async def check_out(ctx: TaskContext, basket: Basket) -> dict[str, object]:
    runs = _note_run(ctx)
    handles = [
        await ctx.delegate("chaos-payments", Charge(order_id=f"{basket.order_id}-{i}"))
        for i in range(basket.items)
    ]
    charged = await ctx.gather(*handles)
    if runs == 1:
        await asyncio.sleep(3600)  # the test kills this process here
    return {"charges": [c["charge"] for c in charged], "runs": runs}


@picky.task
async def pick(ctx: TaskContext, request: Pick) -> dict[str, object]:
    broken = os.environ["PICKY_BROKEN"]
    if request.fail and await asyncio.to_thread(os.path.exists, broken):
        raise ValueError(f"pick {request.n} cannot work while {broken} exists")
    return {"n": request.n}


@sleepy.task
async def nap(ctx: TaskContext, request: Nap) -> dict[str, object]:
    """A handler far slower than the consumer's poll interval, with one effect."""
    _note_run(ctx)
    charged = await ctx.step("charge", lambda: _charge(ctx.step_key("charge"), request.order_id))
    await asyncio.sleep(request.seconds)
    return {"charge": charged}


def _charge(key: str, order_id: str) -> str:
    with _ledger() as db:
        db.execute("INSERT INTO calls VALUES (?, ?)", (key, os.getpid()))
        db.execute("INSERT OR IGNORE INTO charges VALUES (?, ?, ?)", (key, order_id, os.getpid()))
    return key


@payments.task
async def charge(ctx: TaskContext, request: Charge) -> dict[str, object]:
    _note_run(ctx)
    charged = await ctx.step("charge", lambda: _charge(ctx.step_key("charge"), request.order_id))
    # Work after the effect: a kill here must not repeat it.
    await asyncio.sleep(RNG.uniform(0.2, 1.0))
    return {"charge": charged}
