"""The overview dashboard's cost-per-ticket panel computes what its title says: run by
promtool on series of a support desk whose triage calls a model and knowledge does not,
beside an application that is no ticket's."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from tests.observability.conftest import DEPLOY

TITLE = "Model cost per ticket, USD (by agent type)"


def panel_expr() -> str:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "mesh-overview.json").read_text())
    (panel,) = [p for p in dashboard["panels"] if p["title"] == TITLE]
    variables = {v["name"]: v["query"] for v in dashboard["templating"]["list"] if "query" in v}
    assert variables["ticket_agent"] == "triage"  # the support desk's, by default
    (target,) = panel["targets"]
    expr: str = re.sub(r"\$__rate_interval", "5m", target["expr"])
    # Grafana's "All" for $agent; the ticket agent's default from the dashboard itself.
    return expr.replace("$ticket_agent", variables["ticket_agent"]).replace("$agent", ".*")


def test_cost_per_ticket_is_each_agents_cost_over_the_tickets_ended(
    promtool: str, tmp_path: Path
) -> None:
    per_minute = {  # counters as the workers export them, one sample a minute
        'mesh_llm_cost_usd_total{agent="triage", model="small", instance="w1"}': "0+0.006x20",
        'mesh_llm_cost_usd_total{agent="triage", model="small", instance="w2"}': "0+0.002x20",
        'mesh_llm_cost_usd_total{agent="assistant", model="small", instance="w3"}': "0+0x20",
        'mesh_task_transitions_total{agent="triage", kind="succeeded", instance="w1"}': "0+3x20",
        'mesh_task_transitions_total{agent="triage", kind="dead_lettered", instance="w2"}': (
            "0+1x20"
        ),
        'mesh_task_transitions_total{agent="triage", kind="started", instance="w1"}': "0+4x20",
        'mesh_task_transitions_total{agent="knowledge", kind="succeeded", instance="w1"}': "0+4x20",
    }
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in per_minute.items()],
                "promql_expr_test": [
                    {
                        # In thousandths of a dollar, rounded: no float noise.
                        "expr": f"round(1000 * ({panel_expr()}))",
                        "eval_time": "15m",
                        "exp_samples": [  # 0.008 USD a minute over 4 tickets ended a minute
                            {"labels": '{agent="triage"}', "value": 2},
                            {"labels": '{agent="assistant"}', "value": 0},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "panel_test.yml"
    path.write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
