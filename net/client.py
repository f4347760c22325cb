"""Build the only HTTP clients Empreinte uses to reach the outside world.

Both builders give a client whose transport is guarded (:mod:`.guard`): every
connection, redirect hops included, goes to a checked public address, proxies
from the environment are ignored, and loopback is reachable only with the one
explicit ``allow_loopback`` setting (tests and the demo).
"""

from __future__ import annotations

import time
from typing import Final

import httpx

from empreinte import __version__
from empreinte.net.guard import (
    GuardedBackend,
    GuardedTransport,
    Resolver,
    SyncGuardedBackend,
    SyncGuardedTransport,
    SyncResolver,
)

MAX_REDIRECTS: Final = 5


def user_agent(purpose: str) -> str:
    return f"Empreinte/{__version__} ({purpose})"


def async_client(
    *,
    user_agent: str,
    allow_loopback: bool = False,
    resolver: Resolver | None = None,
    connections: int = 100,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """Return a guarded asynchronous client that never follows redirects (the crawler's)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=16)
    backend = GuardedBackend(allow_loopback=allow_loopback, resolver=resolver)
    return httpx.AsyncClient(
        transport=GuardedTransport(backend, limits),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent, **(headers or {})},
    )


def sync_client(
    *,
    user_agent: str,
    allow_loopback: bool = False,
    timeout: float = 15.0,
    follow_redirects: bool = False,
    resolver: SyncResolver | None = None,
    verify: bool = True,
) -> httpx.Client:
    """Return a guarded synchronous client (webhooks, re-checks); redirects at most 5 hops."""
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=5)
    backend = SyncGuardedBackend(allow_loopback=allow_loopback, resolver=resolver)
    return httpx.Client(
        transport=SyncGuardedTransport(backend, limits, verify=verify),
        follow_redirects=follow_redirects,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
        timeout=timeout,
        headers={"User-Agent": user_agent},
    )


class TooLarge(Exception):
    """A body went over its byte limit."""


class TooSlow(Exception):
    """A body did not arrive within its time budget."""


def read_limited(answer: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    """Read a streamed body up to ``max_bytes`` and before ``deadline`` (``time.monotonic``)."""
    declared = answer.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"declares {int(declared):,} bytes, over {max_bytes:,}")
    body = bytearray()
    for chunk in answer.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge(f"body over {max_bytes:,} bytes")
        if time.monotonic() > deadline:
            raise TooSlow("the body did not arrive in time")
    return bytes(body)
