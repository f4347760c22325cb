"""Write a batch of finished items back to the frontier, in one transaction.

Every URL of the batch is closed in one statement (if this worker still
holds it), then each item's effects are written: the links it found, and for
an image, its matches and sightings, or its SHA-256 when nothing matched
(one statement for the batch). Counts go to each crawl's counters last. The
crawl rows are locked first, in id order, so workers sharing a crawl take
turns and never deadlock.

If anything fails, or a lease was lost, the caller rolls back and commits
again ``careful``\\ly: item by item, each in a savepoint, so one bad item
(a bug, a failing ``on_match``) is closed alone as ``internal``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from empreinte.crawler import pipeline
from empreinte.crawler.errors import Skip
from empreinte.crawler.item import Item
from empreinte.crawls import frontier
from empreinte.crawls.frontier import Closing
from empreinte.crawls.jobs import Link
from empreinte.index.live import LiveIndex
from empreinte.store.models.crawls import EntryState

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker took over a URL of the batch; commit it carefully instead."""


@dataclass(slots=True)
class Tally:
    """Counts to add to one crawl's counters."""

    counts: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def copy(self) -> Tally:
        return Tally(Counter(self.counts), Counter(self.retries), Counter(self.dropped))

    def merge_into(self, counters: dict[str, Any]) -> dict[str, Any]:
        merged = dict(counters)
        for key, value in self.counts.items():
            merged[key] = int(merged.get(key, 0)) + value
        for name, extra in (("retries", self.retries), ("dropped", self.dropped)):
            bucket = dict(merged.get(name) or {})
            for key, value in extra.items():
                bucket[key] = int(bucket.get(key, 0)) + value
            merged[name] = bucket
        return merged


@dataclass(slots=True)
class Batch:
    """One commit's state: the locked counters and the tallies of each crawl."""

    session: Session
    worker_id: str
    live: LiveIndex
    on_match: pipeline.OnMatch
    counters: dict[int, dict[str, Any]] = field(default_factory=dict)
    tallies: dict[int, Tally] = field(default_factory=dict)
    unmatched: list[bytes] = field(default_factory=list)
    lost: int = 0


def commit(
    session: Session,
    worker_id: str,
    items: list[Item],
    live: LiveIndex,
    on_match: pipeline.OnMatch,
    careful: bool = False,
) -> int:
    """Close ``items`` and write their effects; return how many were lost to other workers."""
    batch = Batch(session, worker_id, live, on_match)
    for crawl_id in sorted({item.entry.crawl_id for item in items}):
        batch.counters[crawl_id] = frontier.lock_counters(session, crawl_id)
        batch.tallies[crawl_id] = Tally()
    ordered = sorted(items, key=lambda i: i.sha256 or b"")
    closings = [_closing(session, item) for item in ordered]
    if careful:
        for item, closing in zip(ordered, closings, strict=True):
            _guarded(batch, item, closing)
    else:
        if frontier.close_all(session, worker_id, closings) != len(closings):
            raise LeaseLost
        for item, closing in zip(ordered, closings, strict=True):
            _effects(batch, item, closing)
    pipeline.remember_seen(session, batch.unmatched, live.seq)
    for crawl_id, counters in batch.counters.items():
        frontier.save_counters(session, crawl_id, batch.tallies[crawl_id].merge_into(counters))
    return batch.lost


def _closing(session: Session, item: Item) -> Closing:
    entry, skip, redirect = item.entry, item.skip, item.redirect
    if redirect is not None and frontier.in_redirect_chain(session, entry, redirect.url_hash):
        skip = item.skip = Skip("redirect_loop", f"back to {redirect.url}")
    if skip is None:
        content = item.response.content if item.response is not None else "redirect"
        return Closing(entry, EntryState.DONE, content=content)
    if skip.retry_after is not None and entry.attempts < item.plan.limits.max_attempts:
        return Closing(
            entry,
            EntryState.QUEUED,
            error=skip.reason,
            detail=skip.detail,
            not_before=time.time() + skip.retry_after,
        )
    return Closing(entry, EntryState.FAILED, error=skip.reason, detail=skip.detail)


def _guarded(batch: Batch, item: Item, closing: Closing) -> None:
    """Write one item in a savepoint; if it fails, undo its counts too and fail it alone."""
    session, crawl_id = batch.session, item.entry.crawl_id
    saved, unmatched = batch.tallies[crawl_id], len(batch.unmatched)
    batch.tallies[crawl_id] = saved.copy()
    try:
        with session.begin_nested():
            if frontier.close_all(session, batch.worker_id, [closing]) != 1:
                batch.lost += 1
                return
            _effects(batch, item, closing)
    except Exception as exc:
        log.exception("could not record %s", item.entry.url)
        batch.tallies[crawl_id] = saved
        del batch.unmatched[unmatched:]
        failed = Closing(item.entry, EntryState.FAILED, error="internal", detail=repr(exc))
        with session.begin_nested():
            batch.lost += frontier.close_all(session, batch.worker_id, [failed]) != 1


def _effects(batch: Batch, item: Item, closing: Closing) -> None:
    """Count the item, queue its links, and match its image."""
    tally = batch.tallies[item.entry.crawl_id]
    if closing.state is EntryState.QUEUED and closing.error:
        tally.retries[closing.error] += 1
    if closing.state is not EntryState.DONE:
        return
    _count_content(item, tally)
    links = [*item.links, item.redirect] if item.redirect is not None else item.links
    if links:
        _enqueue(batch, item, links)
    tally.dropped.update(item.dropped)
    if item.queries is not None and item.sha256 is not None:
        matches = pipeline.record(batch.session, item, batch.live, batch.on_match)
        tally.counts["matches"] += len(matches)
        if not matches:
            batch.unmatched.append(item.sha256)


def _count_content(item: Item, tally: Tally) -> None:
    content = item.response.content if item.response is not None else None
    if content == "html":
        tally.counts["pages"] += 1
    elif content in ("image", "video"):
        tally.counts["images"] += 1
        tally.counts["images_known"] += item.known
        tally.counts["images_hashed"] += item.hashed


def _enqueue(batch: Batch, item: Item, links: list[Link]) -> None:
    crawl_id, limits = item.entry.crawl_id, item.plan.limits
    counters, tally = batch.counters[crawl_id], batch.tallies[crawl_id]
    pages = int(counters.get("queued_pages", 0)) + tally.counts["queued_pages"]
    images = int(counters.get("queued_images", 0)) + tally.counts["queued_images"]
    added = frontier.enqueue(
        batch.session,
        crawl_id,
        limits,
        links,
        parent_id=item.entry.id,
        queued=(pages, images),
    )
    tally.counts["queued_pages"] += added.pages
    tally.counts["queued_images"] += added.images
    tally.dropped.update(added.dropped)
