"""Debian's Chromium driven by Playwright, for the console tests (no Playwright browser
download: `executable_path`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's package (`make chromium`)
WAIT_MS = 15_000  # Playwright's bound on each condition awaited


def chromium() -> Iterator[Browser]:
    """A headless Chromium for a module's tests (a fixture's body); closed after."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()
