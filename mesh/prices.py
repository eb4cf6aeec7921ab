"""`ModelPrice`: what one model costs, as `MESH_MODEL_PRICES` declares it (ADR 021).

A settings type (mesh/settings.py reads the table); the cost of a call is worked out
from it in mesh/models/pricing.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError


class ModelPrice(BaseModel):
    """One model's price: US dollars per million tokens of input, output, and cached
    input (the part of the input the provider had cached; None: the input price)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached: float | None = Field(default=None, ge=0)


def prices_named_by_model(prices: Any, handler: Any) -> Any:
    """A wrap validator of the price table: its errors name the model (pydantic's
    location would come out upper-cased after the setting's name)."""
    try:
        return handler(prices)
    except ValidationError as exc:
        message = "; ".join(_problem(error) for error in exc.errors())
        raise PydanticCustomError("model_prices", message) from None


def _problem(error: Any) -> str:
    if not error["loc"]:
        return 'must be a JSON object: {"<model>": {"input": ..., "output": ..., "cached": ...}}'
    model, *key = error["loc"]
    if error["type"] == "extra_forbidden":
        return f"model {model!r}: {key[0]!r} is not a price (the keys: input, output, cached)"
    where = f"model {model!r}" + (f" {key[0]}" if key else "")
    return f"{where}: {error['msg']} (USD per million tokens)"
