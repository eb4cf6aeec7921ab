"""The native API under `/v1`: submit, read, steer, cancel, list and follow tasks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
