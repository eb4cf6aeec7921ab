"""Registry of `(type, version) -> payload model`, with upcasters between versions.

Rules (checked against the committed snapshots by `mesh schemas check`, which `make
lint` runs; schemas/snapshots.py): within one version only additive changes with
defaults; a breaking change is a new version plus an upcaster from the previous one,
so producers and consumers can be deployed in any order. `REGISTRY` holds what the
process imported: the mesh's own messages (this package) and the contracts of the
agents it runs or of the modules `MESH_CONTRACTS` names.

Exceptions::

    SchemaError
    ├── UnknownMessageType     no model registered for the type
    ├── UnsupportedVersion     version newer than we know, or no upcast path
    └── IncompatibleChange     a model broke its committed snapshot
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=type[BaseModel])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class SchemaError(Exception):
    """Root of schema problems; `mesh.MeshError` wraps these at the runtime boundary."""


class UnknownMessageType(SchemaError):
    pass


class UnsupportedVersion(SchemaError):
    pass


class IncompatibleChange(SchemaError):
    pass


@dataclass
class MessageRegistry:
    """Maps message types and versions to pydantic models."""

    models: dict[tuple[str, int], type[BaseModel]] = field(default_factory=dict)
    upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)
    _latest: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _latest_of_count: int = field(default=-1, init=False, repr=False)

    def register(self, type_: str, version: int = 1) -> Callable[[M], M]:
        """Class decorator: `@REGISTRY.register("support.ticket.created", 2)`."""

        def decorator(model: M) -> M:
            key = (type_, version)
            existing = self.models.get(key)
            if existing is not None and existing is not model:
                raise SchemaError(
                    f"{type_!r} v{version} is already registered to {existing.__name__}; "
                    "bump the version for a new model"
                )
            self.models[key] = model
            return model

        return decorator

    def upcaster(self, type_: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning a `from_version` payload into `from_version + 1`."""

        def decorator(fn: Upcaster) -> Upcaster:
            self.upcasters[(type_, from_version)] = fn
            return fn

        return decorator

    def latest_version(self, type_: str) -> int:
        # Asked for every request a worker parses: a dict lookup, not a scan of every
        # model, rebuilt when models were added (`models` is a plain dict).
        if len(self.models) != self._latest_of_count:
            latest: dict[str, int] = {}
            for t, v in self.models:
                latest[t] = max(v, latest.get(t, v))
            self._latest, self._latest_of_count = latest, len(self.models)
        version = self._latest.get(type_)
        if version is None:
            raise UnknownMessageType(f"no schema registered for message type {type_!r}")
        return version

    def type_of(self, model: type[BaseModel]) -> tuple[str, int]:
        """The `(type, version)` a model is registered under."""
        for key, registered in self.models.items():
            if registered is model:
                return key
        raise UnknownMessageType(
            f"{model.__name__} is not registered; "
            "decorate it with @REGISTRY.register(type, version)"
        )

    def is_known(self, type_: str) -> bool:
        return any(t == type_ for (t, _) in self.models)

    def model_for(self, type_: str, version: int) -> type[BaseModel]:
        try:
            return self.models[(type_, version)]
        except KeyError:
            self.latest_version(type_)  # raises UnknownMessageType
            raise UnsupportedVersion(f"{type_!r} has no schema for version {version}") from None

    def parse(self, type_: str, version: int, payload: dict[str, Any]) -> BaseModel:
        """Validate a payload, upcasting old versions to the newest registered one.

        Raises:
            UnknownMessageType: no model for `type_`.
            UnsupportedVersion: `version` is newer than ours or has no upcast path.
            pydantic.ValidationError: the payload does not fit the model.
        """
        latest = self.latest_version(type_)
        if version > latest:
            raise UnsupportedVersion(
                f"{type_!r} v{version} is newer than the newest known v{latest}; "
                "deploy the newer schemas package"
            )
        while version < latest:
            step = self.upcasters.get((type_, version))
            if step is None:
                raise UnsupportedVersion(f"{type_!r} has no upcaster from v{version}")
            payload = step(payload)
            version += 1
        return self.model_for(type_, version).model_validate(payload)

    def registered(self) -> list[tuple[str, int]]:
        return sorted(self.models)


REGISTRY = MessageRegistry()
"""The process-wide registry that the runtime and the gateway consult."""
