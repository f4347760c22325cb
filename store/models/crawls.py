"""Map the crawler room's tables; they share the registry's metadata.

* ``crawls``: one crawl: who asked, its seeds, scope and limits, status and counters.
* ``frontier``: every URL of a crawl, once (``url_hash`` is unique per crawl), with
  its state: ``queued`` → ``claimed`` (by one worker, until ``lease_until``) →
  ``done`` or ``failed``. Workers in any process claim from it, so it is what
  makes a crawl resumable and shareable.
* ``seen_images``: the SHA-256 of each image that was hashed and matched nothing,
  with the change-log position it was matched against; nothing else of the image.

``lease_until`` and ``not_before`` are Unix times in seconds: every worker
compares them arithmetically with its own clock, so machines need NTP (leases
are tens of seconds; skew must stay well below that).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from empreinte.store.models import Base, BigId, utcnow

__all__ = ["Base", "Crawl", "CrawlStatus", "EntryState", "Frontier", "Kind", "SeenImage"]

URL_LENGTH = 2048


class CrawlStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"


class EntryState(enum.StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"


class Kind(enum.StrEnum):
    """What a URL was found as: a page to read for links, or an image to match."""

    PAGE = "page"
    IMAGE = "image"


class Crawl(Base):
    __tablename__ = "crawls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    seeds: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON)
    limits: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=CrawlStatus.RUNNING.value, index=True)
    counters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Frontier(Base):
    __tablename__ = "frontier"
    __table_args__ = (
        UniqueConstraint("crawl_id", "url_hash"),
        Index("ix_frontier_claim", "crawl_id", "state", "depth", "id"),
        Index("ix_frontier_host", "crawl_id", "host"),
        Index("ix_frontier_pattern", "crawl_id", "pattern"),
        Index("ix_frontier_claimed_by", "claimed_by"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    crawl_id: Mapped[int] = mapped_column(ForeignKey("crawls.id"))
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    url_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    host: Mapped[str] = mapped_column(String(255))
    pattern: Mapped[bytes] = mapped_column(LargeBinary(8))
    kind: Mapped[str] = mapped_column(String(8))
    depth: Mapped[int] = mapped_column(Integer)
    hops: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(BigInteger)
    referrer: Mapped[str | None] = mapped_column(String(URL_LENGTH))
    state: Mapped[str] = mapped_column(String(8), default=EntryState.QUEUED.value)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[float | None] = mapped_column(Float)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[str | None] = mapped_column(String(8))
    error: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(300))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class SeenImage(Base):
    """An image hashed once that matched nothing: only its SHA-256 is kept."""

    __tablename__ = "seen_images"

    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    index_seq: Mapped[int] = mapped_column(BigInteger)
