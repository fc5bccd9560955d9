"""Headless Chromium for browser tests: Debian's package, never a downloaded browser."""

from __future__ import annotations

from pathlib import Path

from tests.support.services import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip (fail under CI=true) when Chromium is missing; `./dev test` installs it when it can."""
    if not Path(CHROMIUM).exists():
        unavailable(f"headless Chromium is not installed at {CHROMIUM}")
