"""Start crawls and report on them: the functions the API and the CLI call.

:func:`create_crawl` checks and normalises the seeds, fixes the scope and
limits, and queues the seeds; workers (:func:`empreinte.crawler.worker.run`)
do the rest. :func:`progress` reads a crawl's counters and its frontier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from empreinte.crawls import frontier
from empreinte.crawls.jobs import Link
from empreinte.crawls.limits import CrawlLimits, Scope
from empreinte.errors import InvalidSeed
from empreinte.net import urls
from empreinte.store.models.crawls import Crawl, CrawlStatus, EntryState, Frontier, Kind
from empreinte.store.registry import NotFound

_COUNTERS = ("pages", "images", "images_hashed", "images_known", "matches")


def create_crawl(
    session: Session,
    organisation_id: int | None,
    seeds: Sequence[str],
    depth: int = 2,
    max_pages: int = 1000,
    scope: str | Sequence[str] | None = None,
    *,
    limits: CrawlLimits | None = None,
) -> Crawl:
    """Create a crawl of ``seeds`` and queue them; raise :class:`InvalidSeed` for a bad one.

    ``scope`` is ``None`` or ``"domain"`` (pages of the seeds' hosts and their
    subdomains) or a list of domains. ``limits`` gives every other bound;
    ``depth`` and ``max_pages`` override its two main ones. A seed whose path
    ends like an image file is queued as an image.
    """
    if not seeds:
        raise InvalidSeed("give at least one URL to crawl")
    if depth < 0 or max_pages < 1:
        raise InvalidSeed("depth must be 0 or more, and max_pages 1 or more")
    normalised = [_seed(seed) for seed in seeds]
    chosen = dataclasses.replace(limits or CrawlLimits(), max_depth=depth, max_pages=max_pages)
    crawl = Crawl(
        organisation_id=organisation_id,
        seeds=normalised,
        scope=_scope(scope, normalised).to_json(),
        limits=chosen.to_json(),
        status=CrawlStatus.RUNNING.value,
        counters={},
    )
    session.add(crawl)
    session.flush()
    links = [
        Link(url, Kind.IMAGE if urls.looks_like_image(url) else Kind.PAGE, 0) for url in normalised
    ]
    added = frontier.enqueue(
        session,
        crawl.id,
        chosen,
        links,
        parent_id=None,
        queued=(0, 0),
    )
    crawl.counters = {"queued_pages": added.pages, "queued_images": added.images}
    session.flush()
    return crawl


def _seed(seed: str) -> str:
    url = urls.normalise(seed)
    if url is None:
        raise InvalidSeed(f"not an http or https URL: {seed[:200]!r}")
    return url


def _scope(scope: str | Sequence[str] | None, seeds: list[str]) -> Scope:
    if scope is None or scope == "domain":
        return Scope.of((urls.host_of(s) for s in seeds), "domain")
    if isinstance(scope, str):
        raise InvalidSeed(f"unknown scope {scope!r}: use 'domain' or a list of domains")
    return Scope.of(scope, "list")


def progress(session: Session, crawl_id: int) -> dict[str, Any]:
    """Report a crawl: pages and images fetched, matches, URLs by state, errors by kind.

    ``errors`` counts URLs that failed, by reason; ``retries`` counts answers
    that were retried later (429, 5xx, network); ``dropped`` counts links not
    followed, by reason (duplicates, scope, depth, caps, traps).
    """
    crawl = session.get(Crawl, crawl_id)
    if crawl is None:
        raise NotFound(f"no crawl {crawl_id}")
    states = _count_by(session, Frontier.state, Frontier.crawl_id == crawl_id)
    errors = _count_by(
        session,
        Frontier.error,
        Frontier.crawl_id == crawl_id,
        Frontier.state == EntryState.FAILED.value,
    )
    counters = crawl.counters or {}
    report: dict[str, Any] = {"crawl_id": crawl.id, "status": crawl.status}
    report.update({name: int(counters.get(name, 0)) for name in _COUNTERS})
    report.update({state.value: int(states.get(state.value, 0)) for state in EntryState})
    report["errors"] = {
        str(k): int(v) for k, v in sorted(errors.items(), key=lambda kv: str(kv[0]))
    }
    report["retries"] = dict(sorted((counters.get("retries") or {}).items()))
    report["dropped"] = dict(sorted((counters.get("dropped") or {}).items()))
    return report


def _count_by(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return {str(key): int(count) for key, count in rows}
