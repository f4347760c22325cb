"""Hash each image in memory, match it through the shared use case, and record what matched.

The step (:func:`hash_image`) runs in the worker: SHA-256 first; an image
known not to match (``seen_images``, checked against every registration
since) is not hashed again; one hashed lately by this process, or being
hashed by another of its tasks, reuses its queries. ``prepare_image`` runs
in the worker's hashing processes under the crawl's decoder limits, so an
image bomb is refused from its header.

:func:`record` runs inside the frontier's commit, in the same transaction as
the URL's completion: ``match_image`` (the one matching use case, shared with
the platform endpoint) and one sighting per match through ``on_match``. An
image that matched nothing leaves only its SHA-256 (:func:`remember_seen`).
A video is hashed in its own killable process (:func:`query_video`, from
memory, under the crawl's video limits) and matched with ``match_video``.
The bytes are never written anywhere: the response body is dropped as soon
as it is hashed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from empreinte.crawler.errors import Skip
from empreinte.crawler.hasher import BrokenProcessPool
from empreinte.crawler.item import Item
from empreinte.detection.service import ImageQuery, Match, match_image, match_video
from empreinte.errors import ImageError, ImageTooLarge
from empreinte.hashing.decode import Limits
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.errors import VideoTooLarge
from empreinte.hashing.video.query import QueryVideo, query_video
from empreinte.index.live import LiveIndex
from empreinte.store import models as m
from empreinte.store.models.crawls import SeenImage

if TYPE_CHECKING:
    from empreinte.crawler.context import Context

SEEN_BATCH: Final = 4
"""Pending look-ups that wake the coordinator at once (fewer wait a tick, to batch)."""

OnMatch = Callable[[Session, Match, str, "str | None"], None]
"""Record one match found at an image URL (and the page it was on), in the caller's transaction."""


def record_sighting(session: Session, match: Match, url: str, page_url: str | None) -> None:
    """The default ``on_match``: a sighting in the notices room, which drafts the notices."""
    from empreinte.notices.service import record_sighting as record

    record(session, match=match, url=url, page_url=page_url, source="crawler")


async def hash_image(item: Item, ctx: Context) -> None:
    """The pipeline step: turn an image response into the queries to match, at most once."""
    response = item.response
    if response is None or response.content not in ("image", "video"):
        return
    data = response.body
    item.response = dataclasses.replace(response, body=b"")
    item.sha256 = sha256 = hashlib.sha256(data).digest()
    if response.content == "video":
        if await _is_known(ctx, sha256):
            item.known = True
            return
        item.queries, item.hashed = await _hash_video(data, item.plan.limits.video), True
        return
    cached = ctx.recent.get(sha256)
    if cached is not None:
        item.queries = cached
        return
    if await _is_known(ctx, sha256):
        item.known = True
        return
    item.queries, item.hashed = await _hash_once(ctx, sha256, data, item.plan.limits.decode)


async def _hash_once(
    ctx: Context, sha256: bytes, data: bytes, limits: Limits
) -> tuple[ImageQuery, bool]:
    """Hash in the pool, or wait for the same bytes already being hashed; say which."""
    cached = ctx.recent.get(sha256)
    if cached is not None:
        return cached, False
    pending = ctx.hashing.get(sha256)
    mine = pending is None
    if pending is None:
        pending = asyncio.ensure_future(ctx.hasher.queries(data, limits))
        ctx.hashing[sha256] = pending
        pending.add_done_callback(lambda done: _hashed(ctx, sha256, done))
    try:
        return await asyncio.shield(pending), mine
    except ImageTooLarge as exc:
        raise Skip("image_too_large", exc.reason) from exc
    except BrokenProcessPool as exc:
        raise Skip("hasher_crashed", "a hashing process died", retry_after=1.0) from exc
    except ImageError as exc:
        raise Skip("bad_image", exc.reason) from exc


async def _hash_video(data: bytes, limits: VideoLimits) -> QueryVideo:
    """Hash a video in its own killable process (from memory), off the event loop."""
    try:
        return await asyncio.to_thread(query_video, data, limits)
    except VideoTooLarge as exc:
        raise Skip("video_too_large", exc.reason) from exc
    except ImageError as exc:
        raise Skip("bad_video", exc.reason) from exc


def _hashed(ctx: Context, sha256: bytes, done: asyncio.Future[ImageQuery]) -> None:
    ctx.hashing.pop(sha256, None)
    if not done.cancelled() and done.exception() is None:
        ctx.remember(sha256, done.result())


async def _is_known(ctx: Context, sha256: bytes) -> bool:
    """Ask the worker's coordinator, which looks up every pending image in one query."""
    ask = ctx.seen_asks.get(sha256)
    if ask is None:
        if not ctx.seen_asks:
            ctx.seen_since = time.monotonic()
        ask = ctx.seen_asks[sha256] = asyncio.get_running_loop().create_future()
        if len(ctx.seen_asks) >= SEEN_BATCH:
            ctx.wake.set()
    return await asyncio.shield(ask)


def known_images(session: Session, hashes: list[bytes], last_add_seq: int) -> set[bytes]:
    """Return which of ``hashes`` matched nothing when checked after the latest registration."""
    return set(
        session.scalars(
            select(SeenImage.sha256).where(
                SeenImage.sha256.in_(hashes), SeenImage.index_seq >= last_add_seq
            )
        )
    )


def last_add_seq(session: Session) -> int:
    """The change-log position of the latest registration: images seen before it are re-checked."""
    query = select(func.coalesce(func.max(m.Change.seq), 0)).where(m.Change.op == m.ChangeOp.ADD)
    return int(session.scalar(query) or 0)


def record(session: Session, item: Item, live: LiveIndex, on_match: OnMatch) -> list[Match]:
    """Match the item's queries, and record a sighting per match through ``on_match``."""
    if item.queries is None:
        return []
    if isinstance(item.queries, QueryVideo):
        found = match_video(
            session,
            live,
            item.queries,
            source="crawler",
            organisation_id=item.plan.organisation_id,
        )
        for match in found:
            on_match(session, match, item.entry.url, item.entry.referrer)
        return found
    matches = match_image(
        session,
        live,
        item.queries,
        source="crawler",
        organisation_id=item.plan.organisation_id,
    )
    for match in matches:
        on_match(session, match, item.entry.url, item.entry.referrer)
    return matches


def remember_seen(session: Session, hashes: list[bytes], index_seq: int) -> None:
    """Insert or refresh ``seen_images`` rows in one statement, without racing other workers.

    Rows go in SHA-256 order, so two workers inserting the same images never
    wait for each other in a cycle.
    """
    if not hashes:
        return
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    rows = [{"sha256": sha, "index_seq": index_seq} for sha in sorted(set(hashes))]
    statement = module.insert(SeenImage).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SeenImage.sha256], set_={"index_seq": statement.excluded.index_seq}
        )
    )
