"""Name what flows through the steps: a claimed frontier entry becomes an item, which gathers
the response, the links found, and the image's queries, then goes back to the frontier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from empreinte.crawler.errors import Skip
from empreinte.crawls.jobs import Entry, Link, Plan
from empreinte.detection.service import ImageQuery
from empreinte.hashing.video.query import QueryVideo


@dataclass(frozen=True, slots=True)
class Response:
    """A response read within limits; ``content`` is ``html``, ``image`` or ``other``."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes = b""
    content: str = "other"

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass(slots=True)
class Item:
    """One URL on its way through the steps."""

    entry: Entry
    plan: Plan
    crawl_delay: float = 0.0
    response: Response | None = None
    links: list[Link] = field(default_factory=list)
    redirect: Link | None = None
    dropped: Counter[str] = field(default_factory=Counter)
    sha256: bytes | None = None
    queries: ImageQuery | QueryVideo | None = None
    known: bool = False
    hashed: bool = False
    skip: Skip | None = None
    release: Callable[[], None] | None = None

    def release_slot(self) -> None:
        """Give back the host slot taken by the politeness step, once."""
        release, self.release = self.release, None
        if release is not None:
            release()
