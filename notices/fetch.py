"""Fetch a notice's URL again, and say whether the registered image is still there.

The seam is :class:`Fetcher`, one method, **synchronous**: the worker runs in
its own thread and handles one URL at a time, so a blocking call is simplest.
:class:`HttpFetcher` fetches through the guarded client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.detection.service import ImageQuery, match_image
from empreinte.errors import BlockedAddress, ImageError
from empreinte.index.live import Change, LiveIndex
from empreinte.net.client import TooLarge, TooSlow, read_limited
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
    """Fetch with a guarded client, following redirects, within bytes and seconds.

    ``client`` must come from :func:`empreinte.net.client.sync_client` with
    ``follow_redirects=True``: each hop's address is checked, so a redirect to a
    private address is refused and recorded like any failed fetch.
    """

    def __init__(
        self, client: httpx.Client, *, max_bytes: int = MAX_BYTES, time_limit: float = 60.0
    ) -> None:
        self.client = client
        self.max_bytes = max_bytes
        self.time_limit = time_limit

    def fetch(self, url: str) -> FetchResult:
        deadline = time.monotonic() + self.time_limit
        try:
            with self.client.stream("GET", url) as answer:
                body = read_limited(answer, self.max_bytes, deadline)
                content_type = answer.headers.get("content-type", "")
                return FetchResult(answer.status_code, content_type, body)
        except BlockedAddress as exc:
            raise FetchError(
                "the URL, or a redirect from it, leads to a non-public address"
            ) from exc
        except TooLarge as exc:
            raise FetchError(f"the answer is too large: {exc}") from exc
        except TooSlow as exc:
            raise FetchError(f"the answer took over {self.time_limit:g} s") from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError("too many redirects") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"could not fetch: {type(exc).__name__}") from exc


Prepare = Callable[[bytes], ImageQuery]
"""Hash fetched bytes into queries: a :class:`~empreinte.detection.budget.DecodeBudget`'s
``prepare``, so re-checks obey the same pixel, memory and concurrency limits as uploads."""


def still_matches(session: Session, fingerprint_id: str, body: bytes, prepare: Prepare) -> bool:
    """Match ``body`` against this one fingerprint, by the same use case as every match.

    The fingerprint's own values (hashes and local features) go into a small
    index of their own, so the check needs no shared index and sees crops,
    frames and screenshots exactly as the crawler did. A match found here is
    recorded as a match event of source ``recheck``. A body that is no usable
    image does not match; :class:`DecoderBusy` is raised through (try later).
    """
    try:
        image = prepare(body)
    except ImageError:
        return False
    found = match_image(session, _index_of(session, fingerprint_id), image, source="recheck")
    return any(match.fingerprint_id == fingerprint_id for match in found)


def _index_of(session: Session, fingerprint_id: str) -> LiveIndex:
    rows = session.execute(
        select(m.Hash.id, m.Hash.signal, m.Hash.value, m.LocalFeatureSet.data)
        .join(m.FingerprintHash, m.FingerprintHash.hash_id == m.Hash.id)
        .outerjoin(m.LocalFeatureSet, m.LocalFeatureSet.hash_id == m.Hash.id)
        .where(
            m.FingerprintHash.fingerprint_id == fingerprint_id,
            m.Hash.active.is_(True),
            m.Hash.value.is_not(None),
        )
        .order_by(m.Hash.id)
    ).all()
    live = LiveIndex()
    live.apply(
        Change(seq=seq, op="add", signal=signal, hash_id=hash_id, value=value or b"", payload=data)
        for seq, (hash_id, signal, value, data) in enumerate(rows, start=1)
    )
    return live
