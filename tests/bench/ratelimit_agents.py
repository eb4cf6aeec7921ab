"""Agents of the rate-limit benchmark (tests/bench/ratelimit.py): four agent types, so
four `mesh run` processes, each asking the model once per task.

    python -m mesh run tests.bench.ratelimit_agents:caller_0
"""

from __future__ import annotations

from pydantic import BaseModel

from mesh import Agent, ModelSpec, RetryPolicy, TaskContext
from schemas import REGISTRY


@REGISTRY.register("bench.ratelimit.ask", 1)
class Ask(BaseModel):
    n: int


# A call that waits past MESH_MODEL_FALLBACK_WAIT fails as rate limited and the task
# runs again later (no fallback here): many attempts, short delays.
_PATIENT = RetryPolicy(max_attempts=100, initial_delay=0.5, max_delay=2.0)


async def _ask(ctx: TaskContext, request: Ask) -> dict[str, object]:
    question = f"{ctx.agent.name}: question {request.n}"  # the benchmark counts by agent
    answer = await ctx.chat([{"role": "user", "content": question}], max_tokens=16)
    return {"tokens": answer.usage.output_tokens}


caller_0, caller_1, caller_2, caller_3 = (
    Agent(f"caller-{i}", retry=_PATIENT, model=ModelSpec()) for i in range(4)
)
for _caller in (caller_0, caller_1, caller_2, caller_3):
    _caller.task(_ask)
