"""Hold a crawl's bounds and scope, stored as JSON on the crawl so every worker obeys the same.

Bounds are of three kinds: how far to go (depth, pages, images), how much one
response may cost (bytes, seconds, redirects, pixels), and how hard to press
one host (concurrency, delay, retries). The link-trap caps (pages per host,
URLs per pattern, path depth) keep infinite calendars and session-id
explosions finite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from empreinte.hashing.decode import Limits
from empreinte.hashing.video.decode import VideoLimits


@dataclass(frozen=True, slots=True)
class CrawlLimits:
    """Every bound of one crawl; unknown keys in stored JSON are ignored."""

    max_depth: int = 2
    max_pages: int = 1000
    max_images: int = 20_000
    max_pages_per_host: int = 5000
    max_per_pattern: int = 1000
    max_path_depth: int = 16
    max_links_per_page: int = 1000
    max_images_per_page: int = 300
    max_page_bytes: int = 5 * 1024 * 1024
    max_image_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_video_seconds: float = 600.0
    """A crawled video longer than this is refused; its bytes count against ``max_image_bytes``."""
    video_decode_seconds: float = 120.0
    time_limit: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 10.0
    max_redirects: int = 5
    per_host_concurrency: int = 2
    per_host_delay: float = 0.5
    max_crawl_delay: float = 30.0
    max_attempts: int = 4
    retry_base: float = 2.0
    max_retry_after: float = 600.0

    @property
    def decode(self) -> Limits:
        """The decoder's bounds for images of this crawl (against image bombs)."""
        return Limits(max_bytes=self.max_image_bytes, max_pixels=self.max_pixels)

    @property
    def video(self) -> VideoLimits:
        """The video decoder's bounds for videos of this crawl."""
        return VideoLimits(
            max_bytes=self.max_image_bytes,
            max_seconds=self.max_video_seconds,
            max_wall_seconds=self.video_decode_seconds,
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait before try ``attempts + 1`` after a transient failure."""
        return float(min(self.max_retry_after, self.retry_base * 2 ** max(0, attempts - 1)))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CrawlLimits:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class Scope:
    """Which hosts' pages are crawled: these domains and their subdomains.

    Scope bounds pages only. Images found on in-scope pages are fetched from
    any host, since they are usually served from a CDN or an image host.
    """

    domains: tuple[str, ...]
    kind: str = "domain"

    def allows(self, host: str) -> bool:
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "domains": list(self.domains)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        return cls(domains=tuple(data.get("domains", ())), kind=str(data.get("kind", "domain")))

    @classmethod
    def of(cls, domains: Iterable[str], kind: str) -> Scope:
        cleaned = dict.fromkeys(d.strip().lower().rstrip(".") for d in domains if d.strip())
        return cls(domains=tuple(cleaned), kind=kind)
