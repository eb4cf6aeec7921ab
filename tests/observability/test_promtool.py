"""The deploy files pass Prometheus' own checks, and every alert its unit tests."""

from __future__ import annotations

import subprocess

from tests.observability.conftest import ALERT_TESTS, PROMETHEUS_CONFIG, RULES


def _promtool(promtool: str, *args: str) -> str:
    done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_scrape_config_is_valid_and_loads_the_rules(promtool: str) -> None:
    out = _promtool(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert f"{len(RULES)} rule files found" in out


def test_rules_are_valid(promtool: str) -> None:
    assert RULES, "deploy/prometheus/rules holds no rule file"
    _promtool(promtool, "check", "rules", *map(str, RULES))


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_say(promtool: str) -> None:
    _promtool(promtool, "test", "rules", str(ALERT_TESTS))
