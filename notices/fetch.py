"""Fetch a notice's URL again, and say whether the registered image is still there.

The seam is :class:`Fetcher`, one method, **synchronous**: the worker runs in
its own thread and handles one URL at a time, so a blocking call is simplest.
The crawler's asynchronous fetcher plugs in through :class:`FromAsync`, which
runs each fetch on the crawler's event loop and waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Final, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.detection.service import match_image, prepare_image
from empreinte.errors import ImageError
from empreinte.hashing.decode import Limits
from empreinte.index.live import Change, LiveIndex
from empreinte.notices.errors import FetchError
from empreinte.store import models as m

MAX_BYTES: Final = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the URL answered: its final HTTP status, content type and body."""

    status: int
    content_type: str
    body: bytes


class Fetcher(Protocol):
    def fetch(self, url: str) -> FetchResult:
        """Fetch ``url``; raise :class:`FetchError` when no HTTP answer came back."""


class HttpFetcher:
    """Fetch with httpx, following redirects, reading at most ``max_bytes``."""

    def __init__(self, client: httpx.Client, *, max_bytes: int = MAX_BYTES) -> None:
        self.client = client
        self.max_bytes = max_bytes

    def fetch(self, url: str) -> FetchResult:
        try:
            with self.client.stream("GET", url, follow_redirects=True) as answer:
                body = bytearray()
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise FetchError(f"{url[:200]} is over {self.max_bytes} bytes")
                content_type = answer.headers.get("content-type", "")
                return FetchResult(answer.status_code, content_type, bytes(body))
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch {url[:200]}: {exc}"[:500]) from exc


class FromAsync:
    """Use an ``async def fetch(url)`` (the crawler's) as a :class:`Fetcher`."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[FetchResult]],
        loop: asyncio.AbstractEventLoop,
        *,
        timeout: float = 120.0,
    ) -> None:
        self._fetch = fetch
        self._loop = loop
        self._timeout = timeout

    def fetch(self, url: str) -> FetchResult:
        future = asyncio.run_coroutine_threadsafe(_await(self._fetch(url)), self._loop)
        try:
            return future.result(self._timeout)
        except FutureTimeout as exc:
            future.cancel()
            raise FetchError(f"fetching {url[:200]} took over {self._timeout} s") from exc


async def _await(pending: Awaitable[FetchResult]) -> FetchResult:
    return await pending


def still_matches(session: Session, fingerprint_id: str, body: bytes) -> bool:
    """Match ``body`` against this one fingerprint, by the same use case as every match.

    The fingerprint's own values (hashes and local features) go into a small
    index of their own, so the check needs no shared index and sees crops,
    frames and screenshots exactly as the crawler did. A match found here is
    recorded as a match event of source ``recheck``.
    """
    try:
        image = prepare_image(body, Limits(max_bytes=MAX_BYTES))
    except ImageError:
        return False
    found = match_image(session, _index_of(session, fingerprint_id), image, source="recheck")
    return any(match.fingerprint_id == fingerprint_id for match in found)


def _index_of(session: Session, fingerprint_id: str) -> LiveIndex:
    rows = session.execute(
        select(m.Hash.id, m.Hash.signal, m.Hash.value, m.LocalFeatureSet.data)
        .join(m.FingerprintHash, m.FingerprintHash.hash_id == m.Hash.id)
        .outerjoin(m.LocalFeatureSet, m.LocalFeatureSet.hash_id == m.Hash.id)
        .where(m.FingerprintHash.fingerprint_id == fingerprint_id, m.Hash.active.is_(True))
        .order_by(m.Hash.id)
    ).all()
    live = LiveIndex()
    live.apply(
        Change(seq=seq, op="add", signal=signal, hash_id=hash_id, value=value, payload=data)
        for seq, (hash_id, signal, value, data) in enumerate(rows, start=1)
    )
    return live
