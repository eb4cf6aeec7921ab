"""An agent for the model-call fault test: a writer that asks its model several
questions in sequence, each prompt built on the previous answer, and pauses at a gate
between two of them so a test can SIGKILL its process there.

The gate is a directory named in the task's input: on reaching it, a run writes
`paused-<instance>` there and, unless a `resume` file is there, waits for good. A kill while it
waits lands between calls (every call before it has returned, so its answer is in the
journal), which makes "one request per logical call" an exact count.

The module imports the OpenAI adapter (so the `openai` SDK) itself: a worker imports
it at its first call, which on a loaded 2-core machine took up to 3 s, and the test's
standby worker should pay that before the kill, not after.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pydantic import BaseModel

import mesh.models.openai_compatible  # noqa: F401 (the SDK's import, paid at start-up)
from mesh import Agent, ModelSpec, RetryPolicy, TaskContext
from schemas import REGISTRY


@REGISTRY.register("faults.model.draft", 1)
class Draft(BaseModel):
    topic: str  # in every prompt, so the double counts this task's calls
    parts: int  # logical model calls, one after another
    pause_before: int  # the part the gate stands before
    gate: str  # the gate's directory


# The model is the mesh's (MESH_MODEL_ENDPOINT/NAME, set by the test to the double).
writer = Agent("fault-writer", model=ModelSpec(), retry=RetryPolicy(max_attempts=1))


def part_label(topic: str, part: int) -> str:
    """How every prompt of one part begins: the test counts requests by it."""
    return f"{topic} part {part}:"


@writer.task
async def write(ctx: TaskContext, draft: Draft) -> dict[str, object]:
    previous = ""
    answers: list[str] = []
    for part in range(draft.parts):
        if part == draft.pause_before:
            await _gate(Path(draft.gate))
        question = f"{part_label(draft.topic, part)} go on from {previous!r}"
        answer = await ctx.chat([{"role": "user", "content": question}])
        previous = answer.content or ""
        answers.append(previous)
    return {"answers": answers, "instance": os.environ.get("MESH_INSTANCE_ID")}


async def _gate(gate: Path) -> None:
    instance = os.environ.get("MESH_INSTANCE_ID", str(os.getpid()))
    await asyncio.to_thread((gate / f"paused-{instance}").touch)
    if not await asyncio.to_thread((gate / "resume").exists):
        await asyncio.Event().wait()  # closed for this run: only its process's kill ends it
