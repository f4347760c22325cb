"""Drive Firefox ESR over WebDriver BiDi, the protocol it speaks natively (no geckodriver).

A deliberately small client: start ``firefox-esr --headless
--remote-debugging-port=0`` on a fresh profile, read the WebSocket address it
prints, open a session, and send commands one at a time while collecting the
events it subscribed to (console entries and network requests).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

FIREFOX = "/usr/bin/firefox-esr"
_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")

PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
}


class BiDiError(RuntimeError):
    """A command the browser answered with an error."""


def write_profile(folder: Path, private: bool) -> None:
    """Write ``user.js`` for a test profile; ``private`` makes every window private."""
    prefs = {**PREFS, "browser.privatebrowsing.autostart": private}
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in prefs.items()]
    (folder / "user.js").write_text("\n".join(lines) + "\n", encoding="utf-8")


class Firefox:
    """A headless Firefox with one BiDi session and one browsing context."""

    def __init__(self, profile: Path, private: bool = False, timeout: float = 60) -> None:
        write_profile(profile, private)
        self.proc = subprocess.Popen(
            [FIREFOX, "--headless", "--remote-debugging-port=0", "--profile", str(profile)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = self._await_address(timeout)
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(
            connect(f"{url}/session", max_size=None, open_timeout=timeout)
        )
        self.command("session.new", {"capabilities": {}})
        self.command(
            "session.subscribe", {"events": ["log.entryAdded", "network.beforeRequestSent"]}
        )
        tree = self.command("browsingContext.getTree", {})
        self.context: str = tree["contexts"][0]["context"]

    def _await_address(self, timeout: float) -> str:
        """Read stderr until Firefox prints its BiDi address; keep draining it afterwards."""
        assert self.proc.stderr is not None
        found: list[str] = []
        ready = threading.Event()

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                match = _LISTENING.search(line)
                if match and not found:
                    found.append(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(timeout) or not found:
            self.proc.kill()
            raise RuntimeError("firefox-esr did not print its WebDriver BiDi address")
        return found[0]

    def command(self, method: str, params: dict[str, Any], timeout: float = 300) -> Any:
        """Send one command and return its result, collecting events on the way."""
        self._next += 1
        ident = self._next
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("type") == "event":
                self.events.append(message)
            elif message.get("id") == ident:
                if message.get("type") == "error":
                    raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
                return message["result"]

    def goto(self, url: str) -> None:
        """Load ``url`` in the context and wait until it is complete."""
        self.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    def evaluate(self, expression: str, timeout: float = 300) -> Any:
        """Await the JavaScript ``expression`` in the page; return its value as a Python object.

        The expression's value is passed through ``JSON.stringify`` in the page.
        """
        wrapped = f"(async () => JSON.stringify(await ({expression})))()"
        result = self.command(
            "script.evaluate",
            {
                "expression": wrapped,
                "target": {"context": self.context},
                "awaitPromise": True,
                "resultOwnership": "none",
            },
            timeout,
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BiDiError(f"script error: {details.get('text')}")
        value = result["result"]
        return json.loads(value["value"]) if value.get("type") == "string" else None

    def console_errors(self) -> list[str]:
        """Return the text of every console entry of level error so far."""
        return [
            str(e["params"].get("text"))
            for e in self.events
            if e["method"] == "log.entryAdded" and e["params"].get("level") == "error"
        ]

    def requests(self) -> list[tuple[str, str, int]]:
        """Return (method, url, body size) of every request the pages sent so far."""
        out = []
        for e in self.events:
            if e["method"] == "network.beforeRequestSent":
                req = e["params"]["request"]
                out.append((req["method"], req["url"], int(req.get("bodySize") or 0)))
        return out

    def close(self) -> None:
        """End the session and the browser."""
        with contextlib.suppress(Exception):  # the browser may already be gone
            self.command("session.end", {}, timeout=10)
        self._stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
