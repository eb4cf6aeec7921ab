"""The README's example agent is the code in `examples/summarizer/`, and `make dev
AGENTS=...` runs it beside the reference agents. (Running it as the README says, with
`mesh run` beside `make dev`: tests/e2e/test_first_ten_minutes.py.)"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.readme import code_blocks, section
from tests.helpers import poll

pytestmark = pytest.mark.e2e

NO_MESH_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}


def test_the_readme_shows_the_example_as_it_is() -> None:
    shown = {}
    for block in code_blocks(section("Writing an agent"), "python"):
        first, _, code = block.partition("\n")
        path = first.removeprefix("# ")
        shown[path] = code
    assert set(shown) == {"examples/summarizer/contracts.py", "examples/summarizer/__init__.py"}
    for path, code in shown.items():
        assert code == (ROOT / path).read_text(), f"the README's {path} differs from the file"


def test_make_dev_agents_runs_them_beside_the_reference_agents(tmp_path: Path) -> None:
    planned = subprocess.run(
        # (--no-print-directory: under `make test` this make is nested and would say
        # "Leaving directory" last)
        ["make", "--no-print-directory", "-n", "dev", "AGENTS=examples.summarizer:agent"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    # -n prints the recipe without running it (and the install steps, when due).
    command = planned.stdout.splitlines()[-1]
    assert command == "exec .venv/bin/mesh dev --agent examples.summarizer:agent"

    for name in (".venv", "agents", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    console = tmp_path / "console.log"
    argv = command.removeprefix("exec ").split()
    # Only what the summarizer needs beside it, so the test stays short.
    argv[2:2] = ["agents.knowledge:agent"]
    argv += ["--no-supervisor", "--no-gateway"]
    with console.open("w") as out:
        dev = subprocess.Popen(
            argv, cwd=tmp_path, env=NO_MESH_ENV, stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def banner() -> bool | None:
            assert dev.poll() is None, console.read_text()
            return "Press Ctrl-C to stop." in console.read_text() or None

        poll(banner, timeout=90, interval=0.2, what="the banner", explain=console.read_text)
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=30) == 0, console.read_text()
    banner = console.read_text()
    # "up" only once both agents registered their cards.
    assert re.search(r"pid \d+ +knowledge \(agents\.knowledge:agent\)", banner), banner
    assert re.search(r"pid \d+ +summarizer \(examples\.summarizer:agent\)", banner), banner
