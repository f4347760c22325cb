"""Fixtures of the crawler: a migrated database, registered photos, and a crawl runner."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler import worker
from empreinte.crawls import service
from empreinte.crawls.limits import CrawlLimits
from empreinte.detection.service import Match
from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.index.live import LiveIndex
from empreinte.store import migrate, registry
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower
from tests.conftest import encode, photo
from tests.dbs import database_url

FAST = CrawlLimits(
    per_host_delay=0.0,
    per_host_concurrency=8,
    time_limit=3.0,
    connect_timeout=2.0,
    read_timeout=2.0,
    retry_base=0.2,
    max_attempts=4,
)
"""Limits for tests: no politeness delay, short timeouts and backoff."""


@contextmanager
def migrated(url: str) -> Iterator[sessionmaker[Session]]:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with migrated(f"sqlite:///{tmp_path / 'crawler.db'}") as made:
        yield made


@pytest.fixture(params=["sqlite", "postgresql"])
def any_sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with database_url(request.param, tmp_path) as url, migrated(url) as made:
        yield made


def register(sessions: sessionmaker[Session], images: Sequence[bytes]) -> list[str]:
    """Register ``images`` in one active case; return their fingerprint ids."""
    records = [fingerprint_bytes(data) for data in images]
    with sessions.begin() as session:
        org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
        case, _ = registry.open_case(session, org.id)
        result = registry.attach_fingerprints(session, case, records)
        assert result.accepted == len(records), result.refused
    return [str(r.id) for r in records]


def live_index(sessions: sessionmaker[Session]) -> LiveIndex:
    follower = Follower(sessions)
    follower.load()
    return follower.live


def repost(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    """A re-post of registered photo ``seed``: resized and re-compressed."""
    image = photo(seed, size).resize(
        (size[0] * 9 // 10, size[1] * 9 // 10), Image.Resampling.LANCZOS
    )
    return encode(image, "JPEG", quality=80)


@dataclasses.dataclass
class Sightings:
    """An ``on_match`` that remembers what it was given."""

    seen: list[tuple[str, str, str | None]] = dataclasses.field(default_factory=list)

    def __call__(self, session: Session, match: Match, url: str, page_url: str | None) -> None:
        self.seen.append((match.fingerprint_id, url, page_url))


def crawl(
    sessions: sessionmaker[Session],
    seeds: Sequence[str],
    *,
    live: LiveIndex | None = None,
    depth: int = 3,
    max_pages: int = 200,
    limits: CrawlLimits = FAST,
    on_match: Any = None,
    allow_loopback: bool = True,
    crawl_id: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Create a crawl of ``seeds`` (or take ``crawl_id``), run one worker to its end, report."""
    if crawl_id is None:
        with sessions.begin() as session:
            crawl_id = service.create_crawl(
                session, None, seeds, depth, max_pages, None, limits=limits
            ).id

    options.setdefault("hashers", 0)

    async def go() -> None:
        await asyncio.wait_for(
            worker.run(
                sessions,
                live or LiveIndex(),
                crawl_id=crawl_id,
                worker_id="test-worker",
                stop_event=asyncio.Event(),
                allow_loopback=allow_loopback,
                on_match=on_match or Sightings(),
                **options,
            ),
            timeout=90,
        )

    asyncio.run(go())
    with sessions() as session:
        return service.progress(session, crawl_id)
