import pytest
from pydantic import BaseModel, ValidationError

from schemas import REGISTRY, Envelope, decode_envelope, encode_envelope
from schemas.registry import MessageRegistry, SchemaError, UnknownMessageType, UnsupportedVersion
from schemas.support import TicketCreated


class V1(BaseModel):
    name: str


class V2(BaseModel):
    first: str
    last: str = ""


def registry() -> MessageRegistry:
    r = MessageRegistry()
    r.register("person", 1)(V1)
    r.register("person", 2)(V2)
    r.upcaster("person", 1)(lambda p: {"first": p["name"]})
    return r


def test_old_versions_are_upcast_to_the_newest() -> None:
    assert registry().parse("person", 1, {"name": "Ada"}) == V2(first="Ada")
    assert registry().parse("person", 2, {"first": "Ada", "last": "L"}) == V2(first="Ada", last="L")


def test_unknown_type_and_unsupported_versions_are_named() -> None:
    with pytest.raises(UnknownMessageType, match="'nobody'"):
        registry().parse("nobody", 1, {})
    with pytest.raises(UnsupportedVersion, match="v3 is newer"):
        registry().parse("person", 3, {})
    gap = MessageRegistry()
    gap.register("x", 1)(V1)
    gap.register("x", 2)(V2)
    with pytest.raises(UnsupportedVersion, match="no upcaster from v1"):
        gap.parse("x", 1, {"name": "a"})


def test_a_version_cannot_be_registered_twice() -> None:
    r = registry()
    with pytest.raises(SchemaError, match="bump the version"):
        r.register("person", 2)(V1)
    assert r.type_of(V2) == ("person", 2)


def test_the_reference_ticket_v1_upcasts_to_v2() -> None:
    ticket = REGISTRY.parse(
        "support.ticket.created", 1, {"ticket_id": "T-1", "customer_email": "a@b", "subject": "s"}
    )
    assert isinstance(ticket, TicketCreated)
    assert ticket.customer.email == "a@b"


def test_envelope_round_trip_and_headers() -> None:
    envelope = Envelope(type="person", version=2, task_id="t1", payload={"first": "Ada"})
    assert decode_envelope(encode_envelope(envelope)) == envelope
    headers = envelope.routing_headers()
    assert headers["mesh-type"] == b"person" and headers["mesh-version"] == b"2"
    assert "mesh-tenant" not in headers
    with pytest.raises(ValidationError):
        decode_envelope(b'{"payload": {}}')  # no type
