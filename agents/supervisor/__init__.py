"""The supervisor agent: watches leases and heartbeats, and intervenes (mesh/supervision).

Run it with `mesh supervisor run` (or `python -m agents.supervisor`); run two or more
for no single point of failure. `policies` says how long each reference agent's tasks
may go quiet; `MESH_SUPERVISION_POLICIES` overrides it per deployment.
"""

from mesh import Policies, SupervisionPolicy

policies = Policies(
    default=SupervisionPolicy(),
    agents={
        # Searches and order look-ups answer in seconds; a minute without activity
        # means the worker is wedged.
        "knowledge": SupervisionPolicy(lease=60.0),
        "orders": SupervisionPolicy(lease=60.0),
    },
)
