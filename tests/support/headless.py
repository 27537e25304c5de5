"""Debian's Chromium driven by Playwright, for the tests that look at a page (the dashboard, report.html).

Screenshots are kept in ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

__all__ = ["ARTIFACTS", "CHROMIUM", "TIMEOUT_MS", "chromium", "screenshot"]

CHROMIUM = Path(os.environ.get("MLPOWER_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO_ROOT / "test-artifacts"
# without the background-networking flags Chromium tries to reach Google at start, which a closed lab network refuses
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 60_000


def chromium() -> Iterator[Any]:
    """The browser, for a fixture to yield from."""
    if not CHROMIUM.is_file():
        if os.environ.get("MLPOWER_SKIP_BROWSER") == "1":
            pytest.skip("MLPOWER_SKIP_BROWSER=1 and no Chromium")
        pytest.fail(f"{CHROMIUM} not found: `make test` installs Debian's chromium (or set MLPOWER_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
