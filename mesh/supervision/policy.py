"""Supervision policies: how long a task may go quiet, and what to do about it.

One `SupervisionPolicy` per agent type (a default for the rest). In code, pass them
to the supervisor; in operations, override them with `MESH_SUPERVISION_POLICIES`, a
JSON object of agent name (or "default") to fields, e.g.
`{"default": {"lease": 120}, "triage": {"max_redispatches": 0}}`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mesh.errors import SettingsError


class SupervisionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A running task with no activity (start, progress, delegation, steering) for this
    # many seconds is stuck; progress extends it.
    lease: float = Field(default=300.0, gt=0)
    # A worker is dead after this many heartbeat intervals without one.
    missed_beats: int = Field(default=3, ge=1)
    # After its worker died, how long a task may wait for Kafka to hand it to another
    # worker (a group re-assigns after the session timeout) before it is redispatched.
    orphan_grace: float = Field(default=30.0, ge=0)
    # Stuck tasks are redispatched this many times; stuck once more, they are cancelled
    # ("cancel"), failed with the reason ("fail": the parent sees ChildFailed), or handed
    # to a human ("escalate": the next attempt waits in `waiting` until `mesh resume`
    # runs it or `mesh cancel` ends it).
    max_redispatches: int = Field(default=2, ge=0)
    when_exhausted: Literal["cancel", "fail", "escalate"] = "cancel"
    # A waiting task is reported (`parked`) when no worker of its agent type has been
    # alive for this long after it was submitted.
    park_after: float = Field(default=10.0, ge=0)
    # Circuit breaking (mesh/supervision/_circuits.py): the circuit opens when at least
    # `failure_ratio` of the agent type's outcomes in the last `window` seconds failed
    # (counting `min_outcomes` or more); after `cooldown` seconds one probe task runs.
    failure_ratio: float = Field(default=0.5, gt=0, le=1)
    min_outcomes: int = Field(default=10, ge=1)
    window: float = Field(default=60.0, gt=0)
    cooldown: float = Field(default=30.0, ge=0)
    # While the circuit is open, new tasks go to this agent type (it must take the same
    # input); None parks them in the inbox.
    fallback: str | None = None


class Policies(BaseModel):
    model_config = ConfigDict(frozen=True)

    default: SupervisionPolicy = SupervisionPolicy()
    agents: dict[str, SupervisionPolicy] = Field(default_factory=dict)

    def for_agent(self, agent: str) -> SupervisionPolicy:
        return self.agents.get(agent, self.default)

    def overridden(self, overrides: dict[str, dict[str, object]]) -> Policies:
        """These policies with `overrides` (agent or "default" -> fields) applied.

        Raises:
            SettingsError: an override names an unknown field or a bad value.
        """
        try:
            default = self.default.model_copy(update={})
            if "default" in overrides:
                default = SupervisionPolicy(**{**self.default.model_dump(), **overrides["default"]})
            agents = dict(self.agents)
            for name, fields in overrides.items():
                if name != "default":
                    base = agents.get(name, default)
                    agents[name] = SupervisionPolicy(**{**base.model_dump(), **fields})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise SettingsError(
                f"MESH_SUPERVISION_POLICIES: {where}: {first['msg']}; fields are "
                f"{', '.join(SupervisionPolicy.model_fields)}"
            ) from None
        return Policies(default=default, agents=agents)
