"""Keep every crawl's URLs in the database, so crawls survive kill -9 and spread over machines.

A worker *claims* a batch of ready URLs: on PostgreSQL with
``SELECT … FOR UPDATE SKIP LOCKED`` (two workers never take the same row and
never wait for each other), on SQLite under ``BEGIN IMMEDIATE``, which
serialises claims. A claim is a lease: the worker extends it by heartbeats
while it works, and a URL whose lease ran out (its worker died) is claimed
again, at most :data:`MAX_CLAIMS` times. A URL is *closed* (done, failed, or
queued again for a retry) only if this worker still holds it, in the same
transaction that adds the links it led to and records its matches: after a
crash, a URL is either finished with all its effects, or fetched again.

:func:`enqueue` dedups by normalised URL per crawl and applies the caps: pages
and images per crawl, pages per host, pages per URL pattern.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import (
    CursorResult,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from empreinte.crawls.jobs import Entry, Link
from empreinte.crawls.limits import CrawlLimits
from empreinte.net import urls
from empreinte.store.models import utcnow
from empreinte.store.models.crawls import Crawl, CrawlStatus, EntryState, Frontier, Kind

MAX_CLAIMS: Final = 5
"""Claims of one URL whose worker never came back; then it fails as ``abandoned``."""

_CHUNK: Final = 500
_SYNC: Final = {"synchronize_session": False}


def claim(
    session: Session, worker_id: str, count: int, lease: float, crawl_id: int | None = None
) -> list[Entry]:
    """Claim up to ``count`` ready URLs (of ``crawl_id``, or of any running crawl).

    Queued URLs come shallowest first (the ``ix_frontier_claim`` index gives
    them in that order); then URLs whose worker's lease ran out.
    """
    now = time.time()
    if crawl_id is not None:
        of_crawl = Frontier.crawl_id == crawl_id
    else:
        of_crawl = Frontier.crawl_id.in_(
            select(Crawl.id).where(Crawl.status == CrawlStatus.RUNNING.value)
        )
    queued = and_(Frontier.state == EntryState.QUEUED.value, Frontier.not_before <= now)
    expired = and_(
        Frontier.state == EntryState.CLAIMED.value,
        Frontier.lease_until < now,
        Frontier.attempts < MAX_CLAIMS,
    )
    ids = _lock_ids(session, [of_crawl, queued], count)
    if len(ids) < count:
        ids += _lock_ids(session, [of_crawl, expired], count - len(ids))
    if not ids:
        return []
    rows = session.execute(
        update(Frontier)
        .where(Frontier.id.in_(ids))
        .values(
            state=EntryState.CLAIMED.value,
            claimed_by=worker_id,
            lease_until=now + lease,
            attempts=Frontier.attempts + 1,
        )
        .returning(
            Frontier.id,
            Frontier.crawl_id,
            Frontier.url,
            Frontier.kind,
            Frontier.depth,
            Frontier.hops,
            Frontier.referrer,
            Frontier.attempts,
        )
        .execution_options(**_SYNC)
    ).all()
    entries = [Entry(r[0], r[1], r[2], Kind(r[3]), r[4], r[5], r[6], r[7]) for r in rows]
    return sorted(entries, key=lambda e: (e.depth, e.id))


def _lock_ids(session: Session, where: list[Any], count: int) -> list[int]:
    return list(
        session.scalars(
            select(Frontier.id)
            .where(*where)
            .order_by(Frontier.depth, Frontier.id)
            .limit(count)
            .with_for_update(skip_locked=True)
        )
    )


def heartbeat(session: Session, worker_id: str, lease: float) -> int:
    """Extend the lease of every URL this worker holds; return how many."""
    return _rowcount(
        session.execute(
            update(Frontier)
            .where(Frontier.claimed_by == worker_id, Frontier.state == EntryState.CLAIMED.value)
            .values(lease_until=time.time() + lease)
            .execution_options(**_SYNC)
        )
    )


def release(session: Session, worker_id: str, ids: Iterable[int] | None = None) -> int:
    """Give back URLs this worker claimed and will not finish (all of them when ``ids`` is None).

    URLs never started do not count as an attempt. A worker restarted under
    the same id calls this first: what its previous life held is retried now
    rather than when the lease runs out.
    """
    statement = update(Frontier).where(
        Frontier.claimed_by == worker_id, Frontier.state == EntryState.CLAIMED.value
    )
    values: dict[str, Any] = {
        "state": EntryState.QUEUED.value,
        "claimed_by": None,
        "lease_until": None,
    }
    if ids is not None:
        chosen = list(ids)
        if not chosen:
            return 0
        statement = statement.where(Frontier.id.in_(chosen))
        values["attempts"] = Frontier.attempts - 1
    return _rowcount(session.execute(statement.values(**values).execution_options(**_SYNC)))


@dataclass(frozen=True, slots=True)
class Closing:
    """How a claimed URL ends: done, failed, or queued again after ``not_before``."""

    entry: Entry
    state: EntryState
    content: str | None = None
    error: str | None = None
    detail: str | None = None
    not_before: float = 0.0


def close_all(session: Session, worker_id: str, closings: Sequence[Closing]) -> int:
    """Close URLs this worker holds, in one statement; return how many it still held."""
    if not closings:
        return 0
    table = cast(Table, Frontier.__table__)
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.claimed_by == worker_id,
            table.c.state == EntryState.CLAIMED.value,
        )
        .values(
            state=bindparam("b_state"),
            claimed_by=None,
            lease_until=None,
            content=bindparam("b_content"),
            error=bindparam("b_error"),
            detail=bindparam("b_detail"),
            not_before=bindparam("b_not_before"),
            finished_at=bindparam("b_finished_at"),
        )
    )
    now = utcnow()
    rows = [
        {
            "b_id": c.entry.id,
            "b_state": c.state.value,
            "b_content": c.content,
            "b_error": c.error,
            "b_detail": c.detail[:300] if c.detail else None,
            "b_not_before": c.not_before,
            "b_finished_at": None if c.state is EntryState.QUEUED else now,
        }
        for c in closings
    ]
    return _rowcount(session.connection().execute(statement, rows))


def close(
    session: Session,
    entry: Entry,
    worker_id: str,
    state: EntryState,
    *,
    content: str | None = None,
    error: str | None = None,
    detail: str | None = None,
    not_before: float = 0.0,
) -> bool:
    """Close one URL this worker holds; False when its lease was lost to another worker."""
    closing = Closing(entry, state, content, error, detail, not_before)
    return close_all(session, worker_id, [closing]) == 1


@dataclass(slots=True)
class Added:
    """What :func:`enqueue` did with a list of links."""

    pages: int = 0
    images: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def enqueue(
    session: Session,
    crawl_id: int,
    limits: CrawlLimits,
    links: Sequence[Link],
    *,
    parent_id: int | None,
    queued: tuple[int, int],
) -> Added:
    """Add the new links of a crawl to its frontier, within its caps.

    ``queued`` is how many pages and images the crawl has queued so far. The
    caller holds the crawl's row lock (:func:`lock_counters`), so counts and
    caps are exact even with many workers. Pages per host and per pattern
    are counted only when the crawl is big enough to reach those caps.
    """
    unique = {link.url_hash: link for link in links}
    known = _existing(session, crawl_id, list(unique))
    added = Added()
    duplicates = len(links) - len(unique) + len(known)
    if duplicates:
        added.dropped["duplicate"] = duplicates
    fresh = [link for key, link in unique.items() if key not in known]
    hosts, shapes = _trap_counts(session, crawl_id, limits, fresh, queued[0])
    rows = []
    for link in fresh:
        shape = urls.pattern(link.url)
        reason = _cap(link, limits, queued[0] + added.pages, queued[1] + added.images)
        if reason is None and link.kind is Kind.PAGE:
            reason = _trap(hosts[link.host], shapes[shape], limits)
        if reason is not None:
            added.dropped[reason] += 1
            continue
        if link.kind is Kind.PAGE:
            hosts[link.host] += 1
            shapes[shape] += 1
            added.pages += 1
        else:
            added.images += 1
        rows.append(_row(crawl_id, link, shape, parent_id))
    if rows:
        session.execute(insert(Frontier), rows)
    return added


def _trap_counts(
    session: Session, crawl_id: int, limits: CrawlLimits, fresh: list[Link], queued_pages: int
) -> tuple[Counter[Any], Counter[Any]]:
    """Pages already queued per host and per pattern, for the hosts and patterns of ``fresh``."""
    pages = [link for link in fresh if link.kind is Kind.PAGE]
    if queued_pages + len(pages) < min(limits.max_pages_per_host, limits.max_per_pattern):
        return Counter(), Counter()
    hosts = _counts(session, crawl_id, Frontier.host, {link.host for link in pages})
    shapes = _counts(session, crawl_id, Frontier.pattern, {urls.pattern(x.url) for x in pages})
    return hosts, shapes


def _cap(link: Link, limits: CrawlLimits, pages: int, images: int) -> str | None:
    if link.kind is Kind.PAGE:
        return "max_pages" if pages >= limits.max_pages else None
    return "max_images" if images >= limits.max_images else None


def _trap(on_host: int, of_shape: int, limits: CrawlLimits) -> str | None:
    if on_host >= limits.max_pages_per_host:
        return "host_cap"
    if of_shape >= limits.max_per_pattern:
        return "pattern_cap"
    return None


def _row(crawl_id: int, link: Link, shape: bytes, parent_id: int | None) -> dict[str, Any]:
    return {
        "crawl_id": crawl_id,
        "url": link.url,
        "url_hash": link.url_hash,
        "host": link.host[:255],
        "pattern": shape,
        "kind": link.kind.value,
        "depth": link.depth,
        "hops": link.hops,
        "parent_id": parent_id,
        "referrer": link.referrer,
        "state": EntryState.QUEUED.value,
        "not_before": 0.0,
        "attempts": 0,
    }


def _existing(session: Session, crawl_id: int, hashes: list[bytes]) -> set[bytes]:
    found: set[bytes] = set()
    for start in range(0, len(hashes), _CHUNK):
        chunk = hashes[start : start + _CHUNK]
        found.update(
            session.scalars(
                select(Frontier.url_hash).where(
                    Frontier.crawl_id == crawl_id, Frontier.url_hash.in_(chunk)
                )
            )
        )
    return found


def _counts(session: Session, crawl_id: int, column: Any, keys: set[Any]) -> Counter[Any]:
    counts: Counter[Any] = Counter()
    chosen = list(keys)
    for start in range(0, len(chosen), _CHUNK):
        rows = session.execute(
            select(column, func.count())
            .where(
                Frontier.crawl_id == crawl_id,
                Frontier.kind == Kind.PAGE.value,
                column.in_(chosen[start : start + _CHUNK]),
            )
            .group_by(column)
        ).all()
        counts.update({key: int(n) for key, n in rows})
    return counts


def in_redirect_chain(session: Session, entry: Entry, target: bytes) -> bool:
    """True when ``target`` is a URL of the redirect chain that led to ``entry``."""
    current: int | None = entry.id
    for _ in range(entry.hops + 1):
        if current is None:
            return False
        row = session.execute(
            select(Frontier.url_hash, Frontier.parent_id, Frontier.hops).where(
                Frontier.id == current
            )
        ).one_or_none()
        if row is None:
            return False
        if row[0] == target:
            return True
        if row[2] == 0:
            return False
        current = row[1]
    return False


def lock_counters(session: Session, crawl_id: int) -> dict[str, Any]:
    """Lock a crawl's row until commit; return a copy of its counters."""
    counters = session.scalar(select(Crawl.counters).where(Crawl.id == crawl_id).with_for_update())
    return dict(counters or {})


def save_counters(session: Session, crawl_id: int, counters: dict[str, Any]) -> None:
    session.execute(
        update(Crawl)
        .where(Crawl.id == crawl_id)
        .values(counters=counters)
        .execution_options(**_SYNC)
    )


def finish_crawls(session: Session, crawl_id: int | None = None) -> list[int]:
    """Mark running crawls with nothing left to do as done; return the ids of the finished."""
    now = time.time()
    abandoned = and_(
        Frontier.state == EntryState.CLAIMED.value,
        Frontier.lease_until < now,
        Frontier.attempts >= MAX_CLAIMS,
    )
    scope = [Frontier.crawl_id == crawl_id] if crawl_id is not None else []
    session.execute(
        update(Frontier)
        .where(abandoned, *scope)
        .values(
            state=EntryState.FAILED.value, claimed_by=None, error="abandoned", finished_at=utcnow()
        )
        .execution_options(**_SYNC)
    )
    open_entries = exists().where(
        Frontier.crawl_id == Crawl.id,
        Frontier.state.in_([EntryState.QUEUED.value, EntryState.CLAIMED.value]),
    )
    chosen = [Crawl.id == crawl_id] if crawl_id is not None else []
    done = list(
        session.scalars(
            select(Crawl.id).where(
                Crawl.status == CrawlStatus.RUNNING.value, ~open_entries, *chosen
            )
        )
    )
    if done:
        session.execute(
            update(Crawl)
            .where(Crawl.id.in_(done))
            .values(status=CrawlStatus.DONE.value, finished_at=utcnow())
            .execution_options(**_SYNC)
        )
    return done


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)
