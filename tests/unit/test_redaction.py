"""Masking by JSON Schema alone matches masking by the model (`sensitive()` marks)."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.redaction import MASK, redacted, redacted_by_schema, sensitive


class Contact(BaseModel):
    email: str = sensitive()
    name: str


class Order(BaseModel):
    buyer: Contact
    others: list[Contact] = []
    backup: Contact | None = None
    card: str = sensitive(default="")
    note: str = ""


def test_a_schema_masks_what_the_model_marks_at_any_depth() -> None:
    payload = {
        "buyer": {"email": "a@x.org", "name": "Ada"},
        "others": [{"email": "b@x.org", "name": "Bo"}],
        "backup": {"email": "c@x.org", "name": "Cy"},
        "card": "4111",
        "note": "hi",
        "unknown": "kept",
    }
    by_schema = redacted_by_schema(Order.model_json_schema(), payload)
    assert by_schema == {
        "buyer": {"email": MASK, "name": "Ada"},
        "others": [{"email": MASK, "name": "Bo"}],
        "backup": {"email": MASK, "name": "Cy"},
        "card": MASK,
        "note": "hi",
        "unknown": "kept",
    }
    assert by_schema == redacted(Order, payload)
    assert (
        redacted_by_schema(Order.model_json_schema(), {**payload, "backup": None})["backup"] is None
    )
