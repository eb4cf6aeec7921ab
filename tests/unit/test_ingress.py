"""Reading domain-topic records: bare JSON, CloudEvents (binary mode) and envelopes."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import BaseModel

from agents.contracts import TICKET_CREATED
from mesh.errors import InvalidInput
from mesh.runtime._ingress import event_type_of, read_domain_event
from mesh.topics import Topics
from mesh.transport.base import Delivery
from schemas import Envelope, MessageRegistry, Source, encode_envelope

TOPIC = "ns.support.ticket.created"
WHEN = datetime(2026, 11, 30, 9, 15, 0, tzinfo=UTC)
TICKET = {
    "ticket_id": "T-1",
    "customer": {"email": "ada@example.com"},
    "subject": "Where is my order ORD-1001?",
}


def record(
    value: bytes | None, headers: dict[str, bytes] | None = None, *, offset: int = 7
) -> Delivery:
    return Delivery(TOPIC, 2, offset, b"T-1", value, headers or {}, WHEN.timestamp())


def cloud_event(**overrides: bytes | None) -> dict[str, bytes]:
    headers: dict[str, bytes | None] = {
        "ce_specversion": b"1.0",
        "ce_id": b"evt-42",
        "ce_source": b"/helpdesk/eu",
        "ce_type": TICKET_CREATED.encode(),
        "ce_time": b"2026-11-30T08:00:00.5Z",
        "ce_subject": b"T-1",
        "content-type": b"application/json; charset=utf-8",
        **overrides,
    }
    return {name: value for name, value in headers.items() if value is not None}


def reason(value: bytes | None, headers: dict[str, bytes] | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        read_domain_event(record(value, headers), TICKET_CREATED)
    return str(caught.value)


# -- bare JSON -----------------------------------------------------------------------


def test_bare_json_is_the_payload_of_the_topics_type_at_its_newest_version() -> None:
    envelope = read_domain_event(record(orjson.dumps(TICKET)), TICKET_CREATED)
    assert (envelope.type, envelope.version) == (TICKET_CREATED, 2)
    assert envelope.payload == TICKET
    assert envelope.correlation_id == envelope.id
    assert envelope.created_at == WHEN  # when it was produced, not when it was read
    assert envelope.source is None and envelope.task_id is None


def test_a_bare_record_read_again_gets_the_same_id_and_another_record_another() -> None:
    first = read_domain_event(record(orjson.dumps(TICKET)), TICKET_CREATED)
    again = read_domain_event(record(orjson.dumps(TICKET)), TICKET_CREATED)
    next_one = read_domain_event(record(orjson.dumps(TICKET), offset=8), TICKET_CREATED)
    assert first.id == again.id
    assert next_one.id != first.id


def test_the_version_header_selects_an_older_version_which_is_upcast_to_validate() -> None:
    v1 = {"ticket_id": "T-1", "customer_email": "ada@example.com", "subject": "Hi"}
    envelope = read_domain_event(record(orjson.dumps(v1), {"mesh-version": b"1"}), TICKET_CREATED)
    assert (envelope.version, envelope.payload) == (1, v1)


def test_a_bare_event_missing_a_field_is_refused_naming_the_field() -> None:
    no_email = {**TICKET, "customer": {"name": "Ada"}}
    assert reason(orjson.dumps(no_email)) == (
        "'support.ticket.created' v2 payload: customer.email: Field required"
    )


def test_every_problem_is_named_but_never_the_value() -> None:
    bad = {"ticket_id": "", "customer": {"email": 12345}, "channel": "pigeon"}
    text = reason(orjson.dumps(bad))
    for field in ("ticket_id", "customer.email", "subject", "channel"):
        assert f"{field}: " in text
    assert "12345" not in text and "pigeon" not in text


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"", "value: empty; expected a JSON object"),
        (None, "value: empty; expected a JSON object"),
        (b"{not json", "value: not JSON"),
        (b"[1, 2]", "value: expected a JSON object, got an array"),
        (b'"T-1"', "value: expected a JSON object, got a string"),
    ],
)
def test_a_value_that_is_no_json_object_is_refused_saying_so(value: bytes | None, why: str) -> None:
    assert reason(value).startswith(why)


@pytest.mark.parametrize("version", [b"two", b"0", b"-1", b"1.5"])
def test_a_bad_version_header_is_named(version: bytes) -> None:
    why = reason(orjson.dumps(TICKET), {"mesh-version": version})
    assert why == f"header mesh-version: {version.decode()!r} is not a positive integer"


def test_an_empty_version_header_is_no_header() -> None:
    headers = {"mesh-version": b""}
    envelope = read_domain_event(record(orjson.dumps(TICKET), headers), TICKET_CREATED)
    assert envelope.version == 2


def test_a_version_newer_than_known_is_refused() -> None:
    assert "v9 is newer than the newest known v2" in reason(
        orjson.dumps(TICKET), {"mesh-version": b"9"}
    )


def test_trace_context_headers_continue_the_upstream_trace() -> None:
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = {"traceparent": traceparent, "tracestate": b"vendor=1"}
    envelope = read_domain_event(record(orjson.dumps(TICKET), headers), TICKET_CREATED)
    assert (envelope.traceparent, envelope.tracestate) == (traceparent.decode(), "vendor=1")


def test_a_payload_with_a_type_field_of_its_own_is_still_bare() -> None:
    registry = MessageRegistry()

    @registry.register("shop.parcel.scanned")
    class Scanned(BaseModel):
        type: str
        payload: dict[str, str]

    value = {"type": "barcode", "payload": {"code": "123"}}
    envelope = read_domain_event(
        record(orjson.dumps(value)), "shop.parcel.scanned", registry=registry
    )
    assert envelope.type == "shop.parcel.scanned" and envelope.payload == value


# -- CloudEvents, binary content mode ------------------------------------------------


def test_a_cloud_event_maps_its_attributes_onto_the_envelope() -> None:
    envelope = read_domain_event(record(orjson.dumps(TICKET), cloud_event()), TICKET_CREATED)
    assert (envelope.type, envelope.version, envelope.payload) == (TICKET_CREATED, 2, TICKET)
    assert envelope.correlation_id == "evt-42"
    assert envelope.source == Source(agent="/helpdesk/eu")
    assert envelope.created_at == datetime(2026, 11, 30, 8, 0, 0, 500000, tzinfo=UTC)


def test_a_cloud_event_sent_twice_has_one_id_and_sources_do_not_collide() -> None:
    once = read_domain_event(record(orjson.dumps(TICKET), cloud_event()), TICKET_CREATED)
    resent = read_domain_event(
        record(orjson.dumps(TICKET), cloud_event(), offset=99), TICKET_CREATED
    )
    other_source = read_domain_event(
        record(orjson.dumps(TICKET), cloud_event(ce_source=b"/helpdesk/us")), TICKET_CREATED
    )
    assert once.id == resent.id
    assert other_source.id != once.id


def test_a_cloud_event_without_time_takes_the_records_and_honours_the_version_header() -> None:
    v1 = {"ticket_id": "T-1", "customer_email": "ada@example.com", "subject": "Hi"}
    headers = cloud_event(ce_time=None, **{"content-type": None, "mesh-version": b"1"})
    envelope = read_domain_event(record(orjson.dumps(v1), headers), TICKET_CREATED)
    assert (envelope.created_at, envelope.version) == (WHEN, 1)


def test_a_cloud_events_tracing_extension_is_carried() -> None:
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    headers = cloud_event(ce_traceparent=traceparent)
    envelope = read_domain_event(record(orjson.dumps(TICKET), headers), TICKET_CREATED)
    assert envelope.traceparent == traceparent.decode()


@pytest.mark.parametrize("attribute", ["ce_id", "ce_source", "ce_type"])
def test_a_cloud_event_missing_a_required_attribute_names_it(attribute: str) -> None:
    headers = cloud_event(**{attribute: None})
    assert reason(orjson.dumps(TICKET), headers) == (
        f"header {attribute}: missing; a CloudEvent needs it"
    )


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"ce_specversion": b"0.3"}, "header ce_specversion: '0.3' is not supported"),
        ({"ce_type": b"com.example.ticket"}, "header ce_type: 'com.example.ticket' is not this"),
        ({"ce_time": b"yesterday"}, "header ce_time: 'yesterday' is not an RFC 3339 time"),
        ({"ce_time": b"2026-11-30T08:00:00"}, "header ce_time: '2026-11-30T08:00:00' is not"),
        ({"content-type": b"application/avro"}, "header content-type: 'application/avro'"),
        ({"ce_id": b"\xff\xfe"}, "header ce_id: not UTF-8 text"),
    ],
)
def test_a_cloud_event_with_a_bad_attribute_names_it(overrides: dict[str, bytes], why: str) -> None:
    assert reason(orjson.dumps(TICKET), cloud_event(**overrides)).startswith(why)


def test_a_cloud_event_with_invalid_data_names_the_field() -> None:
    no_subject = {key: value for key, value in TICKET.items() if key != "subject"}
    assert reason(orjson.dumps(no_subject), cloud_event()) == (
        "'support.ticket.created' v2 payload: subject: Field required"
    )
    assert reason(b"[]", cloud_event()) == "data: expected a JSON object, got an array"


def test_cloud_events_structured_mode_is_refused_with_what_to_send_instead() -> None:
    structured = {"specversion": "1.0", "id": "1", "source": "/x", "data": TICKET}
    headers = {"content-type": b"application/cloudevents+json"}
    assert "structured mode" in reason(orjson.dumps(structured), headers)


# -- mesh envelopes ------------------------------------------------------------------


def test_a_mesh_envelope_reads_as_it_always_did() -> None:
    sent = Envelope(type=TICKET_CREATED, version=2, correlation_id="flow-1", payload=TICKET)
    envelope = read_domain_event(
        record(encode_envelope(sent), sent.routing_headers()), TICKET_CREATED
    )
    assert envelope == sent


def test_an_envelope_copied_without_its_headers_is_still_an_envelope() -> None:
    sent = Envelope(type=TICKET_CREATED, version=2, payload=TICKET)
    envelope = read_domain_event(record(encode_envelope(sent)), TICKET_CREATED)
    assert envelope == sent


def test_an_envelope_with_an_invalid_payload_names_the_field() -> None:
    sent = Envelope(type=TICKET_CREATED, version=2, payload={**TICKET, "customer": {}})
    assert reason(encode_envelope(sent), sent.routing_headers()) == (
        "'support.ticket.created' v2 payload: customer.email: Field required"
    )


def test_a_record_claiming_to_be_an_envelope_that_is_not_is_undecodable() -> None:
    assert reason(b"\xff garbage", {"mesh-type": TICKET_CREATED.encode()}).startswith(
        "undecodable envelope: "
    )


# -- topics --------------------------------------------------------------------------


def test_the_event_type_of_a_domain_topic() -> None:
    topics = Topics("ns")
    types = ["support.reply.drafted", TICKET_CREATED]
    assert event_type_of(TOPIC, topics, types) == TICKET_CREATED
    assert event_type_of(topics.inbox("triage"), topics, types) is None
    assert event_type_of("support.ticket.created", topics, types) is None  # other namespace
