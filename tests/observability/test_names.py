"""Metric names: one module spells them, and the dashboards and rules use only those."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import Counter, Gauge, Histogram

from mesh.observability import metrics
from mesh.observability.plain_metrics import PlainCounter, PlainHistogram
from tests.observability.conftest import ALERT_TESTS, DASHBOARDS, RULES

_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")
# Names Prometheus and prometheus-client provide (scrape health, process collectors).
_STANDARD = re.compile(r"^(up|process_[a-z_]+)$")


def _defined() -> dict[str, Counter | Gauge | Histogram | PlainCounter | PlainHistogram]:
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram | PlainCounter | PlainHistogram):
            found[value._name] = value
    return found


def _rules() -> list[dict[str, str]]:
    return [
        rule
        for path in RULES
        for g in yaml.safe_load(path.read_text())["groups"]
        for rule in g["rules"]
    ]


def _dashboard_exprs() -> list[str]:
    exprs = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            exprs += [target["expr"] for target in panel["targets"]]
    return exprs


def _series_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label names and values left out)."""
    without_matchers = re.sub(r"\{[^}]*\}", "", expr)
    without_clauses = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_matchers)
    return set(
        re.findall(r"[a-z_][a-z0-9_:]*(?=\s*(?:\[|\)|$|\s|\{|>|<|=|\*|/|\+|-))", without_clauses)
    )


def test_every_metric_is_named_mesh_and_documented() -> None:
    defined = _defined()
    required = {  # what issue 6 asks every deployment to see
        *("mesh_messages_consumed", "mesh_messages_produced", "mesh_handler_seconds"),
        *("mesh_task_transitions", "mesh_tasks_inflight", "mesh_retry_depth"),
        *("mesh_dead_letter_depth", "mesh_consumer_lag", "mesh_heartbeats_sent"),
        *("mesh_heartbeats_received", "mesh_live_workers", "mesh_circuit_open"),
        *("mesh_supervisor_actions", "mesh_gateway_requests", "mesh_gateway_request_seconds"),
        *("mesh_gateway_webhook_attempts", "mesh_llm_tokens", "mesh_llm_cost_usd"),
    }
    assert required <= set(defined), required - set(defined)
    for name, metric in defined.items():
        assert name.startswith("mesh_"), name
        assert len(metric._documentation) > 20, f"{name} needs help text"
        assert "task_id" not in metric._labelnames, f"{name}: a task id label is unbounded"


def test_dashboards_and_rules_use_only_defined_names() -> None:
    families = set(_defined())
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    exprs = [*_dashboard_exprs(), *(rule["expr"] for rule in _rules())]
    assert len(exprs) > 20
    functions = {"sum", "max", "rate", "delta", "histogram_quantile", "absent", "and", "or"}
    for expr in exprs:
        for name in _series_names(expr) - functions:
            if name.startswith("mesh:"):
                assert name in recorded, f"{name!r} in {expr!r} is not a recording rule"
            elif name.startswith("mesh_"):
                family = next((name.removesuffix(s) for s in _SUFFIXES if name.endswith(s)), name)
                assert family in families, (
                    f"{name!r} in {expr!r} is not in mesh/observability/metrics.py"
                )
            else:
                assert _STANDARD.match(name), f"{name!r} in {expr!r} is not a mesh_ metric"


def test_the_dashboards_show_model_requests_tokens_cost_and_latency_by_agent_and_model() -> None:
    exprs = _dashboard_exprs()
    for series in (
        "mesh_llm_requests_total",
        "mesh_llm_tokens_total",
        "mesh_llm_cost_usd_total",
        "mesh_llm_request_seconds_bucket",
    ):
        shown = [e for e in exprs if series in _series_names(e)]
        assert any("by (agent, model" in e for e in shown), f"no panel shows {series} by model"


def test_every_alert_has_a_promtool_unit_test() -> None:
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    tests = yaml.safe_load(ALERT_TESTS.read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    assert alerts and alerts == tested


def test_label_children_are_made_once_and_header_bytes_are_decoded() -> None:
    children = metrics.LabelCache(metrics.MESSAGES_PRODUCED, "names-test")
    first = children[b"names.test.v1"]
    assert children[b"names.test.v1"] is first
    first.inc()
    sample = metrics.MESSAGES_PRODUCED.labels("names-test", "names.test.v1")
    assert sample is first
