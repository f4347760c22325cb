"""Obey robots.txt (RFC 9309), parsed by protego, fetched once per origin and process.

An answer of 200 is parsed; 4xx means no rules (everything allowed); 5xx, a
429 or a network error means the site cannot say, so nothing is fetched from
it for now and the URL is retried later. A host the SSRF guard refuses is
refused here already, for good. Up to five redirects are followed,
each through the guarded client. Rules are kept for a day, failures for a
minute. ``Crawl-delay`` feeds the politeness step; the robots.txt request
itself (one per origin and process) does not wait for it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import httpx
from protego import Protego

from empreinte.crawler import fetch
from empreinte.crawler.errors import Skip
from empreinte.crawler.item import Response
from empreinte.crawls.limits import CrawlLimits
from empreinte.net import urls

if TYPE_CHECKING:
    from empreinte.crawler.context import Context
    from empreinte.crawler.item import Item

MAX_ROBOTS_BYTES: Final = 512 * 1024
KEEP_RULES: Final = 24 * 3600.0
KEEP_FAILURE: Final = 60.0


@dataclass(frozen=True, slots=True)
class Rules:
    """The robots.txt of one origin, or why it could not be read."""

    parser: Protego | None
    expires: float
    failure: str = ""
    blocked: bool = False

    def allows(self, url: str, agent: str) -> bool:
        return self.parser is None or bool(self.parser.can_fetch(url, agent))

    def delay(self, agent: str) -> float:
        value = self.parser.crawl_delay(agent) if self.parser is not None else None
        return float(value or 0.0)


class RobotsCache:
    """robots.txt rules by origin, fetched once even when many items ask at the same time."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self._rules: dict[str, Rules] = {}
        self._pending: dict[str, asyncio.Future[Rules]] = {}

    async def rules(self, url: str, limits: CrawlLimits) -> Rules:
        origin = urls.origin_of(url)
        cached = self._rules.get(origin)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        pending = self._pending.get(origin)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Rules] = asyncio.get_running_loop().create_future()
        self._pending[origin] = future
        try:
            rules = await self._load(origin, limits)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._pending[origin]
        future.set_result(rules)
        self._rules[origin] = rules
        return rules

    async def _load(self, origin: str, limits: CrawlLimits) -> Rules:
        small = CrawlLimits.from_json({**limits.to_json(), "max_page_bytes": MAX_ROBOTS_BYTES})
        url = f"{origin}/robots.txt"
        for _ in range(5):
            try:
                answer = await fetch.get(self.client, url, small, raw=True)
            except Skip as skip:
                blocked = skip.reason == "blocked_address"
                return _failure(f"robots.txt unreadable ({skip.detail or skip.reason})", blocked)
            location = answer.header("location")
            if answer.status in fetch.REDIRECTS and location:
                url = urls.normalise(location, url) or url
                continue
            return _parse(answer)
        return _failure("robots.txt redirects too many times")


def _parse(answer: Response) -> Rules:
    expires = time.monotonic() + KEEP_RULES
    if answer.status == 200:
        text = answer.body.decode("utf-8", errors="replace")
        return Rules(Protego.parse(text), expires)
    if 400 <= answer.status < 500 and answer.status != 429:
        return Rules(None, expires)
    return _failure(f"robots.txt answered {answer.status}")


def _failure(reason: str, blocked: bool = False) -> Rules:
    return Rules(None, time.monotonic() + KEEP_FAILURE, failure=reason, blocked=blocked)


async def check(item: Item, ctx: Context) -> None:
    """The robots step: drop what robots.txt disallows; retry later when it cannot be read."""
    rules = await ctx.robots.rules(item.entry.url, item.plan.limits)
    if rules.blocked:
        raise Skip("blocked_address", rules.failure)
    if rules.failure:
        wait = item.plan.limits.backoff(item.entry.attempts)
        raise Skip("robots_unavailable", rules.failure, retry_after=wait)
    if not rules.allows(item.entry.url, ctx.agent):
        raise Skip("robots", "disallowed by robots.txt")
    item.crawl_delay = rules.delay(ctx.agent)
