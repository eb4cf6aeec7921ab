"""The README's console screenshots (docs/console/*.png), from a small mesh: the embedded
broker, a supervisor and one `mesh run` process per agent type, a gateway, and some
tasks (a tree, an approval, dead letters); schedules, one agent type paused; a worker
killed, so the supervisor acts; and the sign-in form of a second gateway, with auth on.
Not a test: `python -m tests.gateway.console_screenshots` (needs /usr/bin/chromium).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, expect, sync_playwright
from pydantic import SecretStr

from mesh.settings import load_settings
from tests.conftest import ROOT, _embedded_broker, settings_env
from tests.gateway.conftest import GatewayServer
from tests.gateway.native_support import poll, submit

OUT = ROOT / "docs" / "console"
AGENTS = [
    "tests.gateway.agents:echo",
    "tests.gateway.agents:slow",
    "tests.gateway.agents:fail",
    "tests.gateway.console_agents:planner",
    "tests.gateway.console_agents:payer",
]


def main() -> None:
    broker = _embedded_broker()
    settings = load_settings(
        profile="dev", bootstrap_servers=next(broker), namespace="demo", idempotent_producer=False
    )
    env = {**settings_env(settings), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "mesh"]
    processes = [subprocess.Popen([*command, "supervisor", "run"], env=env)]
    processes += [subprocess.Popen([*command, "run", spec], env=env) for spec in AGENTS]
    gateway = GatewayServer(settings, [])
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=20) as http:
            poll(
                lambda: len(http.get("/v1/agents").json()["agents"]) == len(AGENTS) or None,
                timeout=120,
                what="every agent's card",
            )
            tasks = submit_tasks(http)
            add_schedules(command, env)
            poll(lambda: live_workers(http, "slow") or None, timeout=120, what="slow seen")
            poll(
                lambda: status(http, tasks["failed"]) == "dead_lettered" or None,
                timeout=60,
                what="dlq",
            )
            http.post("/v1/agents/fail/pause", json={"reason": "until its fix is deployed"})
        os.kill(processes[2].pid, signal.SIGKILL)  # the `slow` worker: the supervisor acts
        take_screenshots(gateway.url, tasks)
        signing_in = GatewayServer(
            settings.model_copy(update={"gateway_auth": "on", "gateway_api_keys": _KEYS}), []
        )
        signing_in.start()
        try:
            take_sign_in_screenshot(signing_in.url)
        finally:
            signing_in.stop()
    finally:
        gateway.stop()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        for _ in broker:  # stops it
            pass


_KEYS = SecretStr('[{"name": "ops", "key_sha256": "' + "0" * 64 + '", "scopes": ["admin"]}]')


def add_schedules(command: list[str], env: dict[str, str]) -> None:
    for name, cron, tz in (
        ("nightly-report", "0 3 * * *", "Europe/Paris"),
        ("every-minute", "* * * * *", "UTC"),
        ("weekly-digest", "0 9 * * 1", "America/New_York"),
    ):
        subprocess.run(
            [
                *command,
                "schedule",
                "add",
                name,
                "--cron",
                cron,
                "--tz",
                tz,
                "--agent",
                "echo",
                "--input",
                json.dumps({"text": name}),
            ],
            env=env,
            check=True,
        )
    subprocess.run([*command, "schedule", "pause", "weekly-digest"], env=env, check=True)


def status(http: httpx.Client, task_id: str) -> str:
    return str(http.get(f"/v1/tasks/{task_id}").json()["status"])


def live_workers(http: httpx.Client, agent: str) -> int:
    agents = http.get("/v1/agents").json()["agents"]
    return next(a["live_workers"] or 0 for a in agents if a["name"] == agent)


def submit_tasks(http: httpx.Client) -> dict[str, str]:
    for number in range(3):
        submit(http, "echo", {"text": f"hello {number}"})
    failed = [submit(http, "fail", {"text": f"bad input {number}"}) for number in range(3)]
    return {
        "planner": submit(http, "planner", {"text": "quarterly report", "seconds": 300}),
        "payer": submit(http, "payer", {"text": "EUR 120 to ACME"}),
        "failed": failed[-1],
    }


def take_screenshots(url: str, tasks: dict[str, str]) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        context = browser.new_context(base_url=url, viewport={"width": 1200, "height": 560})
        page = context.new_page()
        expect.set_options(timeout=90_000)
        shoot(page, "#/tasks", "tasks", page.locator("tbody tr").nth(7))
        shoot(page, f"#/tasks/{tasks['planner']}", "task", page.locator(".tree li li"))
        shoot(page, "#/approvals", "approvals", page.locator(f'[data-task="{tasks["payer"]}"]'))
        shoot(page, "#/agents", "agents", page.locator("main ol li").first)  # an action
        shoot(page, "#/schedules", "schedules", page.locator("tr[data-schedule]").nth(2))
        shoot(page, f"#/tasks/{tasks['failed']}", "dead-letter", page.locator(".letters li"))
        browser.close()


def take_sign_in_screenshot(url: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_context(base_url=url, viewport={"width": 1200, "height": 360}).new_page()
        page.goto("/console")
        page.locator("input[name=credential]").fill("not-a-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("form.signin .error")).to_contain_text("unknown API key")
        page.screenshot(path=str(Path(OUT) / "sign-in.png"), full_page=True)
        browser.close()


def shoot(page: Page, route: str, name: str, shown: Locator) -> None:
    page.goto(f"/console{route}")
    expect(shown).to_be_visible()
    page.screenshot(path=str(Path(OUT) / f"{name}.png"), full_page=True)


if __name__ == "__main__":
    main()
