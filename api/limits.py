"""Per-key rate limits, client addresses and request size limits.

Per-key rate limits are kept in process memory: with several API workers each
enforces its own share. PIN throttling must not be shared out that way: it
lives in the database (:mod:`empreinte.store.throttle`).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from starlette.requests import Request

from empreinte.api.problems import problem_response

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def client_address(request: Request, trusted_proxies: Sequence[str]) -> str:
    """Return who is asking: the peer, or what a trusted proxy says it forwarded for.

    ``X-Forwarded-For`` is read only when the peer is one of ``trusted_proxies``
    (addresses or networks), from the right, skipping the trusted hops: anyone
    can write the header, only the proxy's own entry is believed. IPv6 clients
    are counted by their /64, which one subscriber usually holds whole.
    """
    peer = request.client.host if request.client else "unknown"
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
    address = peer
    if networks and _within(peer, networks):
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            address = hop
            if not _within(hop, networks):
                break
    return _bucket(address)


def _within(address: str, networks: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _bucket(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)


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
