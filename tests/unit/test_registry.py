"""The message registry: (type, version) -> model, upcasting, and its errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from agents.contracts import TICKET_CREATED, TicketCreated, TicketCreatedV1
from schemas import REGISTRY
from schemas.registry import MessageRegistry, SchemaError, UnknownMessageType, UnsupportedVersion


class PersonV1(BaseModel):
    name: str


class PersonV2(BaseModel):
    first: str
    last: str = ""


class PersonV3(BaseModel):
    given: str
    family: str = ""


def people() -> MessageRegistry:
    """A private registry: registrations here never touch the global REGISTRY."""
    registry = MessageRegistry()
    registry.register("person", 1)(PersonV1)
    registry.register("person", 2)(PersonV2)

    @registry.upcaster("person", 1)
    def split_name(payload: dict[str, object]) -> dict[str, object]:
        first, _, last = str(payload["name"]).partition(" ")
        return {"first": first, "last": last}

    return registry


def test_register_and_parse_the_newest_version() -> None:
    registry = people()
    assert registry.latest_version("person") == 2
    assert registry.registered() == [("person", 1), ("person", 2)]
    parsed = registry.parse("person", 2, {"first": "Ada", "last": "Lovelace"})
    assert parsed == PersonV2(first="Ada", last="Lovelace")
    assert registry.model_for("person", 1) is PersonV1


def test_register_returns_the_model_unchanged() -> None:
    registry = MessageRegistry()
    assert registry.register("person", 1)(PersonV1) is PersonV1
    registry.register("person", 1)(PersonV1)  # the same model again is not a conflict
    assert registry.registered() == [("person", 1)]


def test_an_old_version_is_upcast_to_the_newest() -> None:
    parsed = people().parse("person", 1, {"name": "Ada Lovelace"})
    assert parsed == PersonV2(first="Ada", last="Lovelace")


def test_upcasters_chain_over_several_versions() -> None:
    registry = people()
    registry.register("person", 3)(PersonV3)
    registry.upcaster("person", 2)(lambda p: {"given": p["first"], "family": p["last"]})
    assert registry.parse("person", 1, {"name": "Ada Lovelace"}) == PersonV3(
        given="Ada", family="Lovelace"
    )


def test_a_missing_upcaster_is_an_unsupported_version() -> None:
    registry = MessageRegistry()
    registry.register("person", 1)(PersonV1)
    registry.register("person", 2)(PersonV2)
    with pytest.raises(UnsupportedVersion, match="no upcaster from v1"):
        registry.parse("person", 1, {"name": "Ada"})


def test_an_invalid_payload_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        people().parse("person", 2, {"last": "no first name"})


def test_an_unknown_type_is_named() -> None:
    registry = people()
    with pytest.raises(UnknownMessageType, match="'robot'"):
        registry.parse("robot", 1, {})
    with pytest.raises(UnknownMessageType):
        registry.latest_version("robot")
    with pytest.raises(UnknownMessageType):
        registry.model_for("robot", 1)
    assert not registry.is_known("robot")
    assert registry.is_known("person")


def test_a_version_newer_than_known_asks_for_newer_schemas() -> None:
    with pytest.raises(UnsupportedVersion, match=r"'person' v3 is newer than the newest known v2"):
        people().parse("person", 3, {"given": "Ada"})
    with pytest.raises(UnsupportedVersion, match="no schema for version 3"):
        people().model_for("person", 3)


def test_registering_another_model_under_a_taken_version_fails() -> None:
    registry = people()
    with pytest.raises(SchemaError, match=r"'person' v2 is already registered to PersonV2"):
        registry.register("person", 2)(PersonV3)
    assert registry.model_for("person", 2) is PersonV2  # the original stays


def test_type_of_finds_the_registration_of_a_model() -> None:
    registry = people()
    assert registry.type_of(PersonV1) == ("person", 1)
    assert registry.type_of(PersonV2) == ("person", 2)
    with pytest.raises(UnknownMessageType, match="PersonV3 is not registered"):
        registry.type_of(PersonV3)


def test_support_ticket_created_v1_is_upcast_to_v2() -> None:
    v1 = {"ticket_id": "T-1", "customer_email": "ada@example.com", "subject": "Where is it?"}
    ticket = REGISTRY.parse(TICKET_CREATED, 1, v1)
    assert isinstance(ticket, TicketCreated)
    assert ticket.ticket_id == "T-1"
    assert ticket.customer.email == "ada@example.com"
    assert ticket.customer.name == ""
    assert ticket.subject == "Where is it?"
    assert ticket.channel == "email"  # the v2 default
    assert "customer_email" not in ticket.model_dump()


def test_the_global_registry_knows_both_ticket_versions() -> None:
    assert REGISTRY.type_of(TicketCreatedV1) == (TICKET_CREATED, 1)
    assert REGISTRY.type_of(TicketCreated) == (TICKET_CREATED, 2)
    assert REGISTRY.latest_version(TICKET_CREATED) == 2
