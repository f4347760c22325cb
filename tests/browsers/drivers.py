"""Open the browsers under test behind one small interface, in normal or private mode.

Modes: ``chromium`` (a persistent profile), ``chromium-private`` (an incognito
context), ``firefox`` and ``firefox-private`` (``browser.privatebrowsing.autostart``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from tests.browsers.bidi import FIREFOX, Firefox
from tests.browsers.chromium import CHROMIUM, Chromium

MODES = ("chromium", "chromium-private", "firefox", "firefox-private")


class Browser(Protocol):
    """What the tests need of a browser page."""

    def goto(self, url: str) -> None: ...
    def evaluate(self, expression: str, timeout: float = 300) -> Any: ...
    def console_errors(self) -> list[str]: ...
    def requests(self) -> list[tuple[str, str, int]]: ...
    def close(self) -> None: ...


def missing(mode: str) -> str | None:
    """Return why ``mode`` cannot run on this machine, or None."""
    exe = CHROMIUM if mode.startswith("chromium") else FIREFOX
    return None if shutil.which(exe) else f"{exe} is not installed (./dev test installs it)"


@contextmanager
def open_browser(mode: str, profile: Path, playwright: Any) -> Iterator[Browser]:
    """Start the browser of ``mode`` on the empty folder ``profile``; close it afterwards.

    ``playwright`` is the run's one Playwright driver (the ``playwright`` fixture).
    """
    private = mode.endswith("-private")
    if mode.startswith("chromium"):
        chromium = Chromium(playwright, profile, private)
        try:
            yield chromium
        finally:
            chromium.close()
    else:
        firefox = Firefox(profile, private)
        try:
            yield firefox
        finally:
            firefox.close()
