"""The records between quota clients and allocators (ADR 024).

`Demand` goes on the requests topic keyed by resource, so every report about one
resource reaches the one allocator owning its partition. `Grant` goes on the grants
topic keyed by the client's id; each client reads every grant partition and keeps
its own. Both are internal to the mesh (not registered contracts): unknown fields
are ignored, so a newer process's extra fields do not break an older one during a
rolling upgrade.

Times inside are durations (seconds), never instants, except `sent_at`, which only
lets a new allocator skip reports older than a lease; so processes need no closely
synchronised clocks.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Demand(BaseModel):
    """A client's report about one resource, every refresh interval while it uses it.

    Attributes:
        client: the reporting process's client id (where grants are addressed).
        resource: what is limited, e.g. `model:gpt-4o-mini@https://api.openai.com/v1`.
        capacity: the resource's limits per minute by dimension, from the client's
            settings; the allocator applies the smallest any live client reports.
        wants: units per minute wanted, by dimension, then task priority (as str).
        has: the rates of the client's current live grant (a new allocator renews
            these while it learns who holds what).
        pause: seconds the provider asked to wait (a 429's Retry-After): the allocator
            pauses the resource for every client at once.
        sent_at: the sender's wall clock (seconds since the epoch).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    client: str
    resource: str
    capacity: dict[str, float]
    wants: dict[str, dict[int, float]] = Field(default_factory=dict)
    has: dict[str, float] = Field(default_factory=dict)
    pause: float | None = Field(default=None, ge=0)
    sent_at: float


class Grant(BaseModel):
    """An allocator's answer: the client may use `rates` (units per minute, by
    dimension) of `resource` for `lease` seconds from receipt, none of it for the
    first `pause` seconds."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    client: str
    resource: str
    rates: dict[str, float]
    lease: float = Field(gt=0)
    pause: float = Field(default=0.0, ge=0)
