"""What runs beside the supervisor's streams in its process, on the mesh's own transport:
the pause switches it follows (ADR 039) and a scheduler (ADR 040), so a deployment
with supervisors fires its schedules with nothing more to run.

faust starts `run_beside` once the app is up and cancels it when the app stops; what it
started is stopped then.
"""

from __future__ import annotations

import asyncio
import logging

from mesh._background import serve_until
from mesh.schedules.scheduler import Scheduler
from mesh.settings import Settings
from mesh.supervision.core import Supervisor
from mesh.topics import Topics
from mesh.transport.kafka.adapter import KafkaTransport
from mesh.views.pauses import PauseBoard
from schemas.supervision import AgentPause

log = logging.getLogger(__name__)


async def run_beside(settings: Settings, supervisor: Supervisor) -> None:
    """Keep `supervisor.paused` current and fire schedules, until cancelled."""
    transport = KafkaTransport(settings)
    await transport.start()

    def switched(switch: AgentPause) -> None:
        supervisor.paused = board.paused
        state = "paused" if switch.paused else "resumed"
        log.info("agent %r %s: its waiting tasks are no fault", switch.agent, state)

    board = PauseBoard(transport, Topics(settings.namespace), on_change=switched)
    scheduler = Scheduler(transport, settings)
    try:
        await board.start()
        await serve_until(scheduler, asyncio.Event())  # until faust cancels it
    finally:
        await board.stop()
        await transport.stop()
