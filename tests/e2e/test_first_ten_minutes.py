"""A newcomer's first ten minutes: `make dev` in one terminal, the commands it prints
and the README shows typed as printed in a second.

The first terminal runs `.venv/bin/mesh dev` (what `make dev` runs) in a fresh
project directory (this checkout's `.venv`, `agents` and `examples`, linked), so its
`.mesh/dev.env` is the test's own. The second terminal is `bash -c` in that directory
with no `MESH_*` variable at all. Its commands are parsed from the banner and the
README (tests/e2e/readme.py), never re-typed here: placeholders such as `<task-id>`
take the id an earlier command printed, and the README's `localhost:8000` becomes the
gateway's port (the test picks a free one; everything else is as shipped). Each
command must exit 0, or the status its README comment documents ("exit 1"), and
print what the README says it prints.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.readme import Command, code_blocks, commands, section
from tests.gateway.conftest import free_port
from tests.helpers import poll as poll_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NO_MESH_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
BANNER_END = "Press Ctrl-C to stop."
TASK_ID = re.compile(r"^[0-9a-f]{32}$")
PLACEHOLDER = re.compile(r"<[a-z-]+>")
TERMINAL = {"succeeded", "failed", "cancelled", "dead_lettered"}


@dataclass
class FirstTerminal:
    """`mesh dev` as `make dev` runs it, its console captured as a terminal shows it."""

    project: Path
    proc: subprocess.Popen[bytes]
    console: Path
    gateway_port: int
    seconds_to_banner: float = 0.0

    def output(self) -> str:
        return self.console.read_text(errors="replace")

    def banner(self) -> str:
        text = self.output()
        return text[text.index("agentmesh dev is up") : text.index(BANNER_END)]


@dataclass(frozen=True)
class Run:
    command: str
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"$ {self.command}\n(exit {self.code})\n{self.out}\n-- stderr --\n{self.err}"


def poll(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.3) -> Any:
    """`tests.helpers.poll` for a check that answers with a truth value."""
    return poll_until(lambda: check() or None, timeout=timeout, what=what, interval=interval)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstTerminal]:
    project = tmp_path_factory.mktemp("fresh-clone")
    for name in (".venv", "agents", "examples"):
        (project / name).symlink_to(ROOT / name)
    port = free_port()  # tests run side by side: not 8000
    console = project.parent / f"{project.name}-console.log"
    started = time.monotonic()
    with console.open("wb") as out:
        proc = subprocess.Popen(
            [".venv/bin/mesh", "dev"],
            cwd=project,
            # TRIAGE_MODEL_DRAFTS=0: the embedded model's drafts (rejected: ADR 029)
            # would hold its one thread for seconds while the assistant waits behind them.
            env=NO_MESH_ENV | {"MESH_GATEWAY_PORT": str(port), "TRIAGE_MODEL_DRAFTS": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    terminal = FirstTerminal(project, proc, console, port)
    try:

        def banner_printed() -> bool:
            assert proc.poll() is None, f"mesh dev exited:\n{terminal.output()}"
            return BANNER_END in terminal.output()

        poll(banner_printed, timeout=120, what="the banner")
        terminal.seconds_to_banner = time.monotonic() - started
        yield terminal
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class SecondTerminal:
    """A shell in the project directory with no MESH_* variable, remembering ids."""

    first: FirstTerminal
    values: dict[str, str] = field(default_factory=dict)

    def type(self, command: str, *, env: dict[str, str] | None = None) -> Run:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.first.project,
            env=env or NO_MESH_ENV,
            capture_output=True,
            text=True,
            timeout=90,
        )
        run = Run(command, done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in run.err, run
        return run

    def as_printed(self, command: Command) -> Run:
        """Run `command` with its placeholders filled; check its status and output."""
        text = command.text
        for placeholder, value in self.values.items():
            text = text.replace(placeholder, value)
        port = self.first.gateway_port
        text = re.sub(r"\b(localhost|127\.0\.0\.1):8000\b", f"127.0.0.1:{port}", text)
        missing = PLACEHOLDER.findall(text)
        assert not missing, f"no earlier command printed a value for {missing} in {text!r}"
        if command.expected_status == 1 and re.search(r"mesh (steer|cancel) ", text):
            # "ended: exit 1": the reference agents answer in milliseconds, but a test
            # types faster than a person; wait for the end it documents.
            self.wait_for_task(lambda state: state["status"] in TERMINAL, "to end")
        run = self.type(text)
        assert run.code == command.expected_status, run
        self.check(run, command)
        return run

    def wait_for_task(self, done: Callable[[dict[str, Any]], bool], what: str) -> None:
        task_id = self.values["<task-id>"]
        url = f"http://127.0.0.1:{self.first.gateway_port}/v1/tasks/{task_id}"
        with httpx.Client(timeout=5) as http:

            def reached() -> bool:
                response = http.get(url)
                return response.status_code == 200 and done(response.json())

            poll(reached, timeout=60, what=f"task {task_id} {what}")

    def check(self, run: Run, command: Command) -> None:
        """What the README's comments (and the banner) say each command prints."""
        text, out = run.command, run.out
        if text.startswith(".venv/bin/mesh "):
            assert "mesh: using the dev mesh at 127.0.0.1:" in run.err, run  # said once
        if re.search(r"mesh agents$", text):
            listed = {line.split()[0] for line in out.splitlines()}
            assert {"knowledge", "orders", "triage"} <= listed, run
        elif "mesh submit " in text:
            task_id = out.splitlines()[0]
            assert TASK_ID.match(task_id), run  # "prints a task id at once"
            self.values["<task-id>"] = task_id
            if text.endswith(" --follow"):  # the model's tokens as they came, then the end
                assert "\ntokens    " in out and "\nstatus    succeeded" in out, run
                assert '\nresult    {"answer":' in out, run
        elif "mesh publish " in text:
            event_id = out.strip()
            assert TASK_ID.match(event_id), run
            assert f".venv/bin/mesh tasks --correlation {event_id}" in run.err, run
            self.values["<event-id>"] = event_id
        elif "mesh tasks --correlation " in text:
            assert out.startswith("TASK") and " triage " in out, run  # triage, its children
        elif re.search(r"mesh tasks$", text):
            assert out.startswith("TASK") and self.values["<task-id>"] in out, run
        elif "mesh task " in text:
            assert f"task      {self.values['<task-id>']}" in out and "\nstatus    " in out, run
        elif re.search(r"mesh (steer|cancel) ", text) and command.expected_status == 1:
            ended = f"task {self.values['<task-id>']} has already ended (succeeded)"
            assert ended in run.err, run
        elif "mesh steer " in text:
            assert out.startswith(f"sent to task {self.values['<task-id>']}"), run
        elif "mesh dlq list " in text:
            assert out.startswith("ID "), run
        elif text.startswith("curl") and "/events" in text:
            assert "event: " in out and "data: " in out, run  # Server-Sent Events
        elif text.startswith("curl") and "-X POST" in text:
            self.values["<task-id>"] = json.loads(out)["task_id"]  # "202 + task id"
        elif text.startswith("curl") and re.search(r"/v1/tasks/[0-9a-f]{32}$", text):
            assert json.loads(out)["task_id"] == self.values["<task-id>"], run
        elif text.startswith("curl"):
            assert "tasks" in json.loads(out), run


def banner_commands(first: FirstTerminal) -> list[Command]:
    """The banner's "Try" lines, each a command as a shell runs it."""
    banner = first.banner()
    tried = banner[banner.index("Try, from another terminal") :].split("\n\n")[0]
    return [Command(line.strip(), "") for line in tried.splitlines()[1:]]


def readme_commands(title: str) -> list[Command]:
    return [c for block in code_blocks(section(title), "bash") for c in commands(block)]


def test_the_printed_commands_work_from_a_second_terminal(first: FirstTerminal) -> None:
    print(f"mesh dev printed its banner {first.seconds_to_banner:.1f} s after it started")
    shell = SecondTerminal(first)
    from_banner = banner_commands(first)
    assert len(from_banner) >= 5, first.banner()
    for command in from_banner:
        shell.as_printed(command)

    typed = {command.text for command in from_banner}
    for command in readme_commands("Using the dev mesh"):  # the ones not typed yet
        if command.text in typed:
            continue
        if "mesh tasks --correlation " in command.text:
            # The triage worker starts the event's task a moment after the publish.
            poll(
                lambda c=command: " triage " in shell.type(_filled(c, shell)).out,
                timeout=30,
                what="the event's triage task",
            )
        shell.as_printed(command)
    assert {"<task-id>", "<event-id>"} <= set(shell.values)

    # Variables set in the shell win over the dev mesh's file.
    closed = f"127.0.0.1:{free_port()}"
    elsewhere = shell.type(
        ".venv/bin/mesh agents", env=NO_MESH_ENV | {"MESH_BOOTSTRAP_SERVERS": closed}
    )
    assert elsewhere.code == 1, elsewhere
    assert f"cannot reach the broker at {closed} (MESH_BOOTSTRAP_SERVERS)" in elsewhere.err


def _filled(command: Command, shell: SecondTerminal) -> str:
    text = command.text
    for placeholder, value in shell.values.items():
        text = text.replace(placeholder, value)
    return text


def test_the_example_agent_runs_as_the_readme_says(first: FirstTerminal) -> None:
    shell = SecondTerminal(first)
    services: list[subprocess.Popen[str]] = []
    try:
        for command in readme_commands("Writing an agent"):
            if command.text.startswith("make "):
                continue  # the other way to run it (tests/e2e/test_example_agent.py)
            if " run " in command.text:  # a service: it keeps running in its own terminal
                services.append(_start_service(shell, command.text))
                poll(
                    lambda: "summarizer" in shell.type(".venv/bin/mesh agents").out,
                    timeout=60,
                    what="the summarizer to register",
                )
                continue
            if "mesh steer " in command.text:  # "while it waits for a review"
                shell.wait_for_task(_in_review, "to wait for a review")
            if re.search(r"mesh task <", command.text):
                shell.wait_for_task(lambda state: state["status"] in TERMINAL, "to end")
            run = shell.as_printed(command)
            if re.search(r"mesh task [0-9a-f]{32}$", run.command):
                _one_point_after_brief(run)
            if "--wait" in run.command:
                assert "\nstatus    dead_lettered" in run.out, run
            if "mesh dlq list summarizer" in run.command:
                assert "Reject is permanent: the knowledge base has nothing on 'zzqx'" in run.out
        assert services, "the README runs the example with `mesh run`"
    finally:
        for service in services:
            service.send_signal(signal.SIGINT)
    for service in services:
        assert service.wait(timeout=30) == 0


def _start_service(shell: SecondTerminal, text: str) -> subprocess.Popen[str]:
    log = shell.first.project.parent / "summarizer.log"
    with log.open("w") as out:
        return subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=shell.first.project,
            env=NO_MESH_ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _in_review(state: dict[str, Any]) -> bool:
    return any(entry["message"] == "draft ready" for entry in state.get("progress", []))


def _one_point_after_brief(run: Run) -> None:
    assert "\nstatus    succeeded" in run.out, run
    result = json.loads(run.out.split("\nresult    ", 1)[1].splitlines()[0])
    articles = json.loads((ROOT / "agents/knowledge/articles.json").read_text())
    titles = [a["title"] for a in articles if a["id"] in result["article_ids"]]
    assert len(titles) == 3 and sum(title in result["text"] for title in titles) == 1, result


def test_ctrl_c_leaves_a_readable_console_and_no_dev_file(first: FirstTerminal) -> None:
    # The supervisor (a faust app) is the last to start; its start-up must be in the log.
    poll(lambda: "ready: checking every" in first.output(), timeout=90, what="the supervisor")
    first.proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert first.proc.wait(timeout=60) == 0, first.output()[-4000:]

    console = first.output()
    assert "\x1b" not in console and "\b" not in console  # no colour or cursor codes
    assert "uvicorn.access" not in console and "HTTP/1.1" not in console  # no request lines
    assert "Highwater" not in console and "+----" not in console  # no faust tables
    assert "[^" not in console and "Starting..." not in console  # nor its service lines
    assert not (first.project / ".mesh" / "dev.env").exists()
