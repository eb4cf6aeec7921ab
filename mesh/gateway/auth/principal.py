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


def decided_by(caller: Principal, claimed: object, *, default: str) -> str:
    """Who made a decision (an approval's `by`, ADR 046): with auth on, the
    authenticated caller, and a person it names (`claimed`, e.g. the one at a shared
    console) only as on whose behalf; with auth off, whoever `claimed` says, else
    `default`."""
    named = str(claimed) if claimed else ""
    if caller is ANONYMOUS:
        return named or default
    if not named or named == caller.name:
        return caller.name
    return f"{caller.name} on behalf of {named!r}"
