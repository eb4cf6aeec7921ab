"""tests/bench/frameworks.py and its contender scripts agree on their arguments, and
a contender's clock counts its window (the scripts run in other environments, so
nothing else checks them before a benchmark run)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from mesh.settings import Settings
from tests.bench.frameworks import CONTENDERS, FRAMEWORKS, _arguments


def _clock_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_clock", CONTENDERS / "_clock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_contender_script_takes_the_arguments_the_benchmark_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _clock_module()
    settings = Settings(bootstrap_servers="127.0.0.1:9092", namespace="bench-t", linger=0.005)
    for contender in FRAMEWORKS:
        assert (CONTENDERS / contender.script).is_file()
        passed = _arguments(settings, contender, source="in", sink="out", group="g", n=7)
        monkeypatch.setattr(sys, "argv", [contender.script, *passed])
        parsed = clock.parse_args(contender.note)
        assert (parsed.source, parsed.sink, parsed.n) == ("in", "out", 7)
        assert parsed.concurrency == contender.concurrency
        assert parsed.linger_ms == 5
        assert parsed.fetch_wait_ms == round(settings.fetch_max_wait * 1000)


async def test_the_clock_runs_from_the_first_input_to_the_last_acknowledgement() -> None:
    clock = _clock_module().Clock(2)
    clock.consumed()
    clock.acked()
    with pytest.raises(TimeoutError, match="1 of 2 outputs"):
        await clock.wait(0.01)
    clock.acked()
    await clock.wait(1)
    assert clock.seconds > 0 and clock.cpu >= 0
