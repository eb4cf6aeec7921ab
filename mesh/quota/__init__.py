"""Mesh-wide rate limits: leases from allocators partitioned on Kafka (ADR 024).

Generic over resources (a model at an endpoint today; budgets may reuse it): a
resource has a capacity per minute in one or more dimensions ("requests",
"tokens"). Reading order: `share` (how capacity is divided by demand), `ledger` (an
allocator's state for one resource), `allocator` (the group member owning some
resources' partitions), `bucket` (local enforcement while a lease holds), `client`
(a process's side: acquire, report, read grants), `service` (both, as one service).
Model calls use it through mesh/models/limits.py.
"""

from mesh.quota.client import Permit, QuotaClient
from mesh.quota.service import Quota

__all__ = ["Permit", "Quota", "QuotaClient"]
