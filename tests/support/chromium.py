"""Debian's headless Chromium, the one browser the tests drive (through Playwright).

Playwright's own browser download cannot work here; ``make setup`` installs Debian's
``chromium-headless-shell`` and every browser test launches it by path, from here.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM = "/usr/bin/chromium-headless-shell"
MISSING = f"{CHROMIUM} is missing: run `make setup` (installs chromium-headless-shell)"


def launch(playwright: Playwright) -> Browser:
    """A headless Chromium (no sandbox: tests run unprivileged, often in a container).

    Raises:
        FileNotFoundError: The browser is not installed (``MISSING`` says what to do).
    """
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(MISSING)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
