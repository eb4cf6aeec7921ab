"""Budgets that hold under concurrency: a mesh-wide ledger on Kafka (ADR 025).

Reading order: `book` (one budget's arithmetic: reserve, settle, release, expiry),
`messages` (requests, replies and the ledger's records), `keeper` (the group member
owning some budgets' partitions: applies requests, writes the ledger before it
answers), `client` (a process's side: ask and wait for the answer), `service` (both,
started on first use). Model calls use it through mesh/models/budgets.py.
"""

from mesh.budgets.client import BudgetClient
from mesh.budgets.service import Budgets

__all__ = ["BudgetClient", "Budgets"]
