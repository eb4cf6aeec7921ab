"""`Principal`: an authenticated caller, its tenant and its scopes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    SUBMIT = "submit"  # submit tasks, publish events, start runs
    READ = "read"  # read tasks, their events, threads, the approvals inbox
    OPERATE = "operate"  # steer, cancel, approve or reject, replay dead letters
    ADMIN = "admin"  # every scope; without a tenant, every tenant's tasks


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # the API key's name, or the JWT's subject: for logs and errors
    tenant: str | None  # None: every tenant's (auth off, or an admin without a tenant)
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def sees(self, tenant: str | None) -> bool:
        """Whether the caller may see (or touch) a task of `tenant`."""
        return self.tenant is None or tenant == self.tenant


ANONYMOUS = Principal("anonymous (auth off)", None, frozenset(Scope))
