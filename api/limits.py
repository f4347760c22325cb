"""Per-key rate limits, PIN throttling and request size limits.

Rate limits and PIN throttles are kept in process memory: with several API
workers each enforces its own share. The PIN throttle counts failures per case
number and per client, so guessing is slowed whichever one the guesser varies.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from empreinte.api.problems import problem_response


class TokenBucket:
    """Allow ``rate`` events a second per key, with bursts of ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token; return 0 if allowed, else the seconds to wait."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, moment))
            tokens = min(self.burst, tokens + (moment - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, moment)
                return 0.0
            self._state[key] = (tokens, moment)
            return (1 - tokens) / self.rate


class FailureWindow:
    """Count failures per key in a sliding window; block a key past ``limit``."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Return 0 if ``key`` may try again, else the seconds until it may."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            times = self._failures.get(key)
            if not times:
                return 0.0
            while times and times[0] <= moment - self.window:
                times.popleft()
            if len(times) < self.limit:
                return 0.0
            return times[0] + self.window - moment

    def fail(self, key: str, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        with self._lock:
            times = self._failures.setdefault(key, deque())
            times.append(moment)
            while len(times) > self.limit:
                times.popleft()


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0
        refused = False

        async def counted() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)
        except Exception:
            if refused and not started:
                await self._refuse(scope, receive, send)
            else:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "Request too large",
            f"the request body is over the limit of {self.max_bytes:,} bytes",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
