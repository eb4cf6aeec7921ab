"""The web console (ADR 042) in a real headless Chromium (Debian's, driven by
Playwright), against a real gateway in front of real workers on the test broker: the
live task list, a task page (partial results, delegation tree, cancel, replay of a
dead letter), the approvals inbox and the agents page; and the JSON endpoints the
console added, with the 4xx that name what is wrong.

Every wait is on a condition (Playwright's `expect` polls the page). The README's
screenshots come from `python -m tests.gateway.console_screenshots`.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

# Imported now, not at the talker's first call: the workers share the gateway's event
# loop here (GatewayServer), and that import would stall the page's requests meanwhile.
import mesh.models.openai_compatible  # noqa: F401
from mesh.settings import load_settings
from tests.conftest import bootstrap_servers  # noqa: F401 (imported: pytest scopes it to this package)
from tests.gateway.agents import echo, fail, slow
from tests.gateway.browser_support import WAIT_MS, chromium
from tests.gateway.conftest import GatewayServer
from tests.gateway.console_agents import payer, planner, talker
from tests.gateway.native_support import submit, wait_status
from tests.model_double import ModelDouble, Reply

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def double() -> Iterator[ModelDouble]:
    with ModelDouble() as double:
        yield double


@pytest.fixture(scope="module")
def console_gateway(
    bootstrap_servers: str,  # noqa: F811
    double: ModelDouble,
) -> Iterator[GatewayServer]:
    from tests.conftest import _embedded

    settings = load_settings(
        profile="test",
        bootstrap_servers=bootstrap_servers,
        namespace=f"t{uuid.uuid4().hex[:10]}",
        idempotent_producer=not _embedded(),
        model_endpoint=double.url,
        model_name="small",
        tokens_flush_interval=60.0,  # the first piece at once, the rest with the end
    )
    server = GatewayServer(settings, [echo, slow, fail, planner, payer, talker])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture(scope="module")
def page(browser: Browser, console_gateway: GatewayServer) -> Iterator[Page]:
    """One page for the module (a new one costs a second or two here); each test
    navigates it. No script on it may fail."""
    context = browser.new_context(
        base_url=console_gateway.url, viewport={"width": 1200, "height": 640}
    )
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
        assert errors == [], errors
    finally:
        context.close()


@pytest.fixture
def http(console_gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_gateway.url, timeout=20) as client:
        yield client


def test_the_list_shows_tasks_and_changes_them_live(page: Page, http: httpx.Client) -> None:
    before = submit(http, "echo", {"text": "before the page"})
    wait_status(http, before, "succeeded")
    page.goto("/console#/tasks")
    expect(page.locator(f'tr[data-task="{before}"] [data-status]')).to_have_text("succeeded")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    later = submit(http, "slow", {"text": "after the page", "seconds": 1})
    status = page.locator(f'tr[data-task="{later}"] [data-status]')
    expect(status).to_have_text("running")  # it came, and changed, without a reload
    expect(page.locator("tbody tr").first).to_have_attribute("data-task", later)  # newest first
    expect(status).to_have_text("succeeded")
    assert page.evaluate("window.sameDocument") is True

    page.goto("/console#/tasks?status=running")  # a filter: ended tasks are not listed
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator(f'tr[data-task="{later}"]')).to_have_count(0)


def test_the_task_page_shows_partial_results_and_the_tree(page: Page, http: httpx.Client) -> None:
    task_id = submit(http, "planner", {"text": "the tree", "seconds": 30})
    page.goto(f"/console#/tasks/{task_id}")
    expect(page.locator(".partial")).to_contain_text("plan ready: one step")
    child = page.locator(f'.tree [data-tree-task="{task_id}"] [data-tree-task]')
    expect(child).to_contain_text("slow")
    expect(child.locator("[data-status]")).to_have_text("running")
    expect(page.locator('.events [data-kind="delegated"]')).to_have_count(1)
    assert http.post(f"/v1/tasks/{task_id}/cancel").status_code == 202


def test_the_task_page_shows_the_model_output_as_it_streams(
    page: Page, http: httpx.Client, double: ModelDouble
) -> None:
    gate = threading.Event()  # the rest of the answer waits for it after the first piece
    double.script(Reply(content="alpha beta gamma delta", pieces=4, gate=gate))
    task_id = submit(http, "talker", {"text": "go"})
    page.goto(f"/console#/tasks/{task_id}")
    output = page.locator(".output pre")
    expect(output).to_have_text("alpha ")  # before the answer is finished
    gate.set()
    expect(output).to_have_text("alpha beta gamma delta")
    expect(page.locator(".summary [data-status]")).to_have_text("succeeded")
    expect(page.locator(".usage td").nth(1)).to_have_text("small")  # tokens and cost
    expect(page.locator(".usage td").nth(3)).to_have_text("10")  # input tokens


def test_cancel_from_the_page_ends_a_long_task(page: Page, http: httpx.Client) -> None:
    task_id = submit(http, "planner", {"text": "to cancel", "seconds": 30})
    page.goto(f"/console#/tasks/{task_id}")
    child = page.locator(f'.tree [data-tree-task="{task_id}"] [data-tree-task]')
    expect(child.locator("[data-status]")).to_have_text("running")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".summary [data-status]")).to_have_text("cancelled")
    expect(child.locator("[data-status]")).to_have_text("cancelled")  # down the tree
    expect(page.locator('.events [data-kind="cancelled"]')).to_have_count(1)


def test_approve_from_the_inbox(page: Page, http: httpx.Client) -> None:
    task_id = submit(http, "payer", {"text": "EUR 12 to ACME"})
    page.goto("/console#/approvals")
    page.evaluate("localStorage.setItem('console.by', 'ana')")  # who decides
    row = page.locator(f'tr[data-task="{task_id}"]')
    expect(row).to_contain_text("pay EUR 12 to ACME")
    row.get_by_role("button", name="approve").click()
    expect(row).to_have_count(0)
    document = wait_status(http, task_id, "succeeded")
    assert document["result"] == {"decision": "approved", "by": "ana"}


def test_replay_a_dead_letter_from_the_page(page: Page, http: httpx.Client) -> None:
    task_id = submit(http, "fail", {"text": "poison"})
    wait_status(http, task_id, "dead_lettered")
    page.goto(f"/console#/tasks/{task_id}")
    expect(page.locator(".letters")).to_contain_text("asked to fail: poison")
    page.get_by_role("button", name="Replay dead letter").click()
    expect(page.locator('.events [data-kind="replayed"]')).to_have_count(1)
    expect(page.locator('.events [data-kind="dead_lettered"]')).to_have_count(2)  # again


def test_the_agents_page(page: Page, http: httpx.Client) -> None:
    page.goto("/console#/agents")
    row = page.locator('tr[data-agent="slow"]')
    expect(row).to_contain_text("gateway_test.prompt")
    expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^\d+$"))  # its lag
    expect(page.locator("main")).to_contain_text("no supervisor has reported")

    overview = http.get("/v1/agents").json()  # what the page shows
    names = [agent["name"] for agent in overview["agents"]]
    assert names == sorted(names) and {"planner", "payer", "slow"} <= set(names)
    assert all(isinstance(agent["lag"], int) for agent in overview["agents"])
    assert overview["supervisors"] == []  # none runs here: live workers unknown


def test_the_console_endpoints_name_what_is_wrong(http: httpx.Client) -> None:
    def problem_fields(response: httpx.Response) -> list[str]:
        assert response.headers["content-type"].startswith("application/problem+json")
        return [error["field"] for error in response.json()["errors"]]

    bad_status = http.get("/v1/task-updates", params={"status": "sleeping"})
    assert bad_status.status_code == 422 and problem_fields(bad_status) == ["query.status"]
    for path in ("/v1/tasks/nope/replay", "/v1/tasks/nope/dead-letters"):
        method = http.post if path.endswith("replay") else http.get
        unknown = method(path)
        assert unknown.status_code == 404 and problem_fields(unknown) == ["task_id"]
    done = submit(http, "echo", {"text": "fine"})
    wait_status(http, done, "succeeded")
    refused = http.post(f"/v1/tasks/{done}/replay")
    assert refused.status_code == 409 and problem_fields(refused) == ["task_id"]
    assert "not dead_lettered" in refused.json()["detail"]
