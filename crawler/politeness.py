"""Press no host too hard: a few requests at a time, spaced by a delay, and back off when told.

Each host gets ``per_host_concurrency`` slots and a start time reserved per
request, ``delay`` seconds apart (the larger of the crawl's delay and the
host's robots.txt ``Crawl-delay``, capped). A 429 or 503 pushes the host's
next start time back by its ``Retry-After``. The state is per process: with
several workers a host sees at most workers × this rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from empreinte.net import urls

if TYPE_CHECKING:
    from empreinte.crawler.context import Context
    from empreinte.crawler.item import Item

_FORGET_AFTER: Final = 600.0
_MAX_HOSTS: Final = 10_000


@dataclass(slots=True)
class _Host:
    slots: asyncio.Semaphore
    next_start: float = 0.0
    last_used: float = field(default_factory=time.monotonic)


class Politeness:
    """Per-host slots and start times of one worker process."""

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}

    async def acquire(self, host: str, concurrency: int, delay: float) -> Callable[[], None]:
        """Wait for a slot and a start time on ``host``; return the function that frees the slot."""
        state = self._host(host, concurrency)
        await state.slots.acquire()
        now = time.monotonic()
        start = max(now, state.next_start)
        state.next_start = start + delay
        state.last_used = start
        if start > now:
            try:
                await asyncio.sleep(start - now)
            except BaseException:
                state.slots.release()
                raise
        return state.slots.release

    def penalise(self, host: str, seconds: float) -> None:
        """Start nothing on ``host`` for ``seconds`` (a 429 or 503 asked for it)."""
        state = self._hosts.get(host)
        if state is not None:
            state.next_start = max(state.next_start, time.monotonic() + seconds)

    def _host(self, host: str, concurrency: int) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= _MAX_HOSTS:
                self._forget_idle()
            state = self._hosts[host] = _Host(asyncio.Semaphore(max(1, concurrency)))
        return state

    def _forget_idle(self) -> None:
        cutoff = time.monotonic() - _FORGET_AFTER
        for name in [
            h for h, s in self._hosts.items() if s.last_used < cutoff and not s.slots.locked()
        ]:
            del self._hosts[name]


async def wait(item: Item, ctx: Context) -> None:
    """The politeness step: take a slot on the item's host, held until the body is read."""
    limits = item.plan.limits
    delay = max(limits.per_host_delay, min(item.crawl_delay, limits.max_crawl_delay))
    host = urls.host_of(item.entry.url)
    item.release = await ctx.politeness.acquire(host, limits.per_host_concurrency, delay)
