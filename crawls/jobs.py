"""Name what the frontier hands out and takes back: a crawl's plan, claimed entries, found links."""

from __future__ import annotations

from dataclasses import dataclass

from empreinte.crawls.limits import CrawlLimits, Scope
from empreinte.net import urls
from empreinte.store.models.crawls import Kind


@dataclass(frozen=True, slots=True)
class Plan:
    """What every item of one crawl obeys, read once per worker."""

    crawl_id: int
    organisation_id: int | None
    limits: CrawlLimits
    scope: Scope


@dataclass(frozen=True, slots=True)
class Entry:
    """A frontier row as claimed by this worker."""

    id: int
    crawl_id: int
    url: str
    kind: Kind
    depth: int
    hops: int
    referrer: str | None
    attempts: int


@dataclass(frozen=True, slots=True)
class Link:
    """A normalised URL found by a step, to add to the frontier."""

    url: str
    kind: Kind
    depth: int
    referrer: str | None = None
    hops: int = 0

    @property
    def url_hash(self) -> bytes:
        return urls.url_hash(self.url)

    @property
    def host(self) -> str:
        return urls.host_of(self.url)
