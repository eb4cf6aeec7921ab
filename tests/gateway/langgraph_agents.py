"""A test agent for follow-ups that Deep Agents sends as plain text: `napper`.

Deep Agents tools send only messages, so the nap's length is in the text (`nap 0.2`);
without one it naps 30 s, long enough to be interrupted or cancelled.
"""

from __future__ import annotations

import asyncio

from mesh import Agent, TaskContext
from tests.gateway.agents import Prompt

napper = Agent("napper", description="Naps for the seconds its last message names (`nap 0.2`).")


@napper.task
async def nap(ctx: TaskContext, prompt: Prompt) -> dict[str, object]:
    words = prompt.last_text().split()
    seconds = float(words[1]) if len(words) == 2 and words[0] == "nap" else 30.0
    await asyncio.sleep(seconds)  # a cancel interrupts it
    return {"text": f"napped: {prompt.last_text()}"}
