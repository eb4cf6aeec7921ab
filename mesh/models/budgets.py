"""`ModelBudgets`: model calls within budgets, reserved before and settled after
(mesh/budgets, ADR 025).

The budgets a call draws from (`BudgetScope.lines`): its task tree's
(`task:<root id>`, from the root's request or its agent type's default), and
`MESH_BUDGETS`' entries for the calling agent type and the task's tenant, one
budget per period. Before each request to a target, its estimated cost (the
prompt's characters / 4 plus `max_tokens` or `DEFAULT_OUTPUT_TOKENS`, priced by
`MESH_MODEL_PRICES`) is reserved from each, all or nothing; after the answer each
reservation is settled to the real cost and tokens; a request that fails releases
them. A call that does not fit raises `BudgetExceeded` and never reaches the
provider. With no budget, no round trip at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mesh.budgets import BudgetClient, Budgets
from mesh.budgets.messages import BudgetReply
from mesh.errors import BudgetExceeded, ModelUnavailable, SetupError
from mesh.models.accounting import call_cost
from mesh.models.base import ModelTarget
from mesh.models.limits import DEFAULT_OUTPUT_TOKENS, input_tokens
from mesh.models.types import ModelAnswer, ModelRequest, Usage
from mesh.settings import Settings
from schemas.envelope import Budget, Envelope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BudgetLine:
    """One budget a call draws from: its ledger id and its limit by unit."""

    budget: str
    limit: dict[str, float]


@dataclass(frozen=True)
class BudgetScope:
    """What a task's calls are budgeted by (see the module docstring)."""

    run: str  # task id, attempt and replay: a re-delivered run reuses its reservations
    agent: str
    tree: Budget | None  # the task tree's, inherited by children
    root: str
    tenant: str | None

    @classmethod
    def of(cls, agent: str, default: Budget | None, request: Envelope) -> BudgetScope:
        root = request.root_task_id or request.task_id or ""
        # An event handler's calls (no task) draw only from the per-period budgets.
        tree = (request.budget or (default if root == request.task_id else None)) if root else None
        run = f"{request.task_id or request.id}/{request.attempt}.{request.replay}"
        return cls(run, agent, tree, root, request.tenant)

    def lines(self, settings: Settings, now: datetime) -> list[BudgetLine]:
        lines = []
        if self.tree is not None:
            units = {"usd": self.tree.usd, "tokens": self.tree.tokens}
            limit = {u: float(v) for u, v in units.items() if v is not None}
            lines.append(BudgetLine(f"task:{self.root}", limit))
        keys = [f"agent:{self.agent}"] + ([f"tenant:{self.tenant}"] if self.tenant else [])
        for key in keys:
            period = settings.budgets.get(key)
            if period is not None:
                lines.append(BudgetLine(period.budget_id(key, now), period.limit()))
        return lines


@dataclass
class Spend:
    """Handed to the call: it reports its answer, which the reservations settle to."""

    answer: ModelAnswer[None] | None = field(default=None)

    def used(self, answer: ModelAnswer[None]) -> None:
        self.answer = answer


class ModelBudgets:
    """Reserves and settles model calls through the budgets' ledger (None: a call
    that a budget applies to is a setup error; no budget: nothing to do)."""

    def __init__(self, settings: Settings, budgets: Budgets | None = None) -> None:
        self._settings = settings
        self.service = budgets  # this process's keeper and client (None: outside a worker)
        self._timeout = settings.request_timeout
        # A reservation whose settle never comes (a crashed process) is dropped after
        # longer than any request may take.
        self._ttl = max(3 * settings.model_timeout, 60.0)

    @asynccontextmanager
    async def reserve(
        self, scope: BudgetScope | None, name: str, target: ModelTarget, request: ModelRequest
    ) -> AsyncIterator[Spend]:
        """Reserve `request`'s estimate under `name` from every budget of `scope`.

        Raises:
            BudgetExceeded: it does not fit one of them (the others are released).
            ModelUnavailable: the ledger did not answer within MESH_REQUEST_TIMEOUT.
        """
        lines = scope.lines(self._settings, datetime.now(UTC)) if scope is not None else []
        if scope is None or not lines:
            yield Spend()  # the common path: no budget, no round trip
            return
        client = await self._client()
        name = f"{scope.run}/{name}"
        estimate = self._estimate(target, request)
        held: list[BudgetLine] = []
        spend = Spend()
        try:
            for line in lines:
                reply = await self._ask(client, "reserve", line, name, estimate)
                assert reply is not None  # not quiet: no answer raised
                if not reply.granted:
                    raise _exceeded(scope.agent, line, reply, estimate, target)
                held.append(line)
            yield spend
        finally:
            if spend.answer is None:
                for line in held:
                    await self._ask(client, "release", line, name, {}, quiet=True)
            else:
                used = {"usd": spend.answer.cost_usd, "tokens": _tokens(spend.answer.usage)}
                for line in held:
                    await self._ask(client, "settle", line, name, used, quiet=True)

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()

    async def _client(self) -> BudgetClient:
        if self.service is None:
            raise SetupError("a budget applies to this model call but it runs outside a worker")
        return await self.service.started()

    def _estimate(self, target: ModelTarget, request: ModelRequest) -> dict[str, float]:
        output = request.max_tokens or DEFAULT_OUTPUT_TOKENS
        usage = Usage(input_tokens=input_tokens(request), output_tokens=output)
        usd = call_cost(target.name, usage, self._settings.model_prices)
        return {"usd": usd, "tokens": float(_tokens(usage))}

    async def _ask(
        self,
        client: BudgetClient,
        op: str,
        line: BudgetLine,
        name: str,
        amounts: dict[str, float],
        *,
        quiet: bool = False,
    ) -> BudgetReply | None:
        amounts = {u: a for u, a in amounts.items() if u in line.limit}
        try:
            return await client.ask(
                op,
                line.budget,
                name,
                amounts=amounts,
                limit=line.limit,
                ttl=self._ttl,
                timeout=self._timeout,
            )
        except TimeoutError:
            if quiet:  # the reservation expires after its time to live
                log.warning("budgets: %s of %s in %s got no answer", op, name, line.budget)
                return None
            raise ModelUnavailable(
                f"the budget ledger did not answer for {line.budget} within "
                f"MESH_REQUEST_TIMEOUT ({self._timeout:g} s)"
            ) from None


def _tokens(usage: Usage) -> int:
    return usage.input_tokens + usage.output_tokens


def _exceeded(
    agent: str,
    line: BudgetLine,
    reply: BudgetReply,
    estimate: dict[str, float],
    target: ModelTarget,
) -> BudgetExceeded:
    needs = {u: a for u, a in estimate.items() if u in line.limit}
    return BudgetExceeded(
        f"agent {agent!r}: a call to model {target.name!r} needing about {_amounts(needs)} "
        f"does not fit budget {line.budget} (limit {_amounts(reply.limit)}, spent "
        f"{_amounts(reply.spent)}, reserved {_amounts(reply.reserved)})",
        model=target.name,
        budget=line.budget,
        limit=reply.limit,
        spent=reply.spent,
        reserved=reply.reserved,
    )


def _amounts(amounts: dict[str, float]) -> str:
    parts = [f"${v:.4f}" if u == "usd" else f"{v:.0f} {u}" for u, v in sorted(amounts.items())]
    return ", ".join(parts) or "nothing"
