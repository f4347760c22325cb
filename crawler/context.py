"""Hold what the steps share within one worker process: the client, caches and thread pools."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Final

import httpx
from sqlalchemy.orm import Session, sessionmaker

from empreinte import __version__
from empreinte.crawler.fetch import make_client
from empreinte.crawler.hasher import Hasher
from empreinte.crawler.politeness import Politeness
from empreinte.crawler.robots import RobotsCache
from empreinte.detection.service import ImageQuery
from empreinte.index.live import LiveIndex
from empreinte.net.guard import Resolver

AGENT: Final = "EmpreinteBot"
"""The product token robots.txt rules are matched against."""

CONTACT_URL: Final = "https://github.com/empreinte/empreinte/blob/main/docs/crawler.md"
"""Where site operators learn what the crawler is and how to reach us (set per deployment)."""

RECENT_IMAGES: Final = 2_000
"""Images whose queries a worker keeps in memory (with local features, 15 to 50 KB each)."""


def user_agent(contact_url: str = CONTACT_URL) -> str:
    return f"{AGENT}/{__version__} (+{contact_url})"


@dataclass(slots=True)
class Context:
    """The shared state of the steps; one per worker."""

    client: httpx.AsyncClient
    sessions: sessionmaker[Session]
    live: LiveIndex
    hasher: Hasher
    robots: RobotsCache
    politeness: Politeness = field(default_factory=Politeness)
    agent: str = AGENT
    last_add_seq: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    hashing: dict[bytes, asyncio.Future[ImageQuery]] = field(default_factory=dict)
    seen_asks: dict[bytes, asyncio.Future[bool]] = field(default_factory=dict)
    seen_since: float = 0.0
    recent: OrderedDict[bytes, ImageQuery] = field(default_factory=OrderedDict)

    def remember(self, sha256: bytes, queries: ImageQuery) -> None:
        """Keep the queries of a recently hashed image, so its other URLs skip hashing."""
        self.recent[sha256] = queries
        self.recent.move_to_end(sha256)
        while len(self.recent) > RECENT_IMAGES:
            self.recent.popitem(last=False)


@asynccontextmanager
async def open_context(
    sessions: sessionmaker[Session],
    live: LiveIndex,
    *,
    allow_loopback: bool = False,
    hashers: int = 2,
    contact_url: str = CONTACT_URL,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
) -> AsyncIterator[Context]:
    """Open the client and the hashing processes of a worker; close them on exit."""
    client = make_client(
        user_agent=user_agent(contact_url),
        allow_loopback=allow_loopback,
        resolver=resolver,
        transport=transport,
    )
    hasher = Hasher(hashers)
    try:
        yield Context(client, sessions, live, hasher, RobotsCache(client))
    finally:
        await client.aclose()
        hasher.close()
