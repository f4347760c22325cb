"""Drive Debian's Chromium through Playwright (its own browser download is not used)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, Playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Chromium:
    """One Chromium page, normal (a persistent profile) or private (an incognito context)."""

    def __init__(self, pw: Playwright, profile: Path, private: bool = False) -> None:
        self._browser = None
        if private:
            self._browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            self.context: BrowserContext = self._browser.new_context()
        else:
            self.context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=CHROMIUM, args=ARGS
            )
        self.page: Page = self.context.new_page()
        self._errors: list[str] = []
        self._requests: list[tuple[str, str, int]] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self._errors.append(f"pageerror: {exc}"))
        self.context.on("request", self._on_request)

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self._errors.append(message.text)

    def _on_request(self, request: Any) -> None:
        body = request.post_data_buffer or b""
        self._requests.append((request.method, request.url, len(body)))

    def goto(self, url: str) -> None:
        """Load ``url`` and wait until it is complete."""
        self.page.goto(url, wait_until="load")

    def evaluate(self, expression: str, timeout: float = 300) -> Any:
        """Await the JavaScript ``expression`` in the page; return its JSON value."""
        self.page.set_default_timeout(timeout * 1000)
        text = self.page.evaluate(f"async () => JSON.stringify(await ({expression}))")
        return json.loads(text) if isinstance(text, str) else None

    def console_errors(self) -> list[str]:
        """Return every console error and uncaught page error so far."""
        return list(self._errors)

    def requests(self) -> list[tuple[str, str, int]]:
        """Return (method, url, body size) of every request the pages sent so far."""
        return list(self._requests)

    def close(self) -> None:
        """Close the page and the browser."""
        self.context.close()
        if self._browser is not None:
            self._browser.close()
