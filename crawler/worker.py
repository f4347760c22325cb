"""Crawl: claim URLs from the frontier, run them through the steps, and commit them back.

A worker is one asyncio loop: ``concurrency`` tasks run items through the
steps, and one coordinator does every database call of the worker, one at a
time, in a thread: claims, commits of finished items (in batches),
heartbeats. Run as many workers as you like, in one process or many, on one
machine or several: they share crawls through the frontier. A worker given a
``crawl_id`` returns when that crawl is done; without one it serves every
running crawl until ``stop_event`` is set. On stop it finishes what it
started (within the crawl's time limit), commits, and gives back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler import commit, engine, pipeline
from empreinte.crawler.context import CONTACT_URL, Context, open_context
from empreinte.crawler.item import Item
from empreinte.crawls import frontier, service
from empreinte.crawls.jobs import Entry, Plan
from empreinte.crawls.limits import CrawlLimits, Scope
from empreinte.index.live import LiveIndex
from empreinte.net.guard import Resolver
from empreinte.store.models.crawls import Crawl, CrawlStatus

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[dict[str, Any]], None]

TICK: Final = 0.025
POLL: Final = 0.25
COMMIT_EVERY: Final = 0.2
SEEN_EVERY: Final = 0.02
PROGRESS_EVERY: Final = 1.0
SEQ_EVERY: Final = 2.0


async def run(
    sessions: sessionmaker[Session],
    live: LiveIndex,
    *,
    crawl_id: int | None = None,
    worker_id: str,
    stop_event: asyncio.Event,
    allow_loopback: bool = False,
    on_progress: Progress | None = None,
    on_match: pipeline.OnMatch | None = None,
    concurrency: int = 16,
    hashers: int | None = None,
    lease: float = 60.0,
    contact_url: str = CONTACT_URL,
    transport: httpx.AsyncBaseTransport | None = None,
    resolver: Resolver | None = None,
) -> None:
    """Work on ``crawl_id`` until it is done (or on every running crawl until stopped).

    ``on_match`` records a sighting (default: the notices room's
    ``record_sighting``). ``hashers`` processes hash images (default: one
    per CPU; 0 hashes in a thread of this process, for tests). ``transport``
    and ``resolver`` replace the guarded network for tests;
    ``allow_loopback`` lets the guard reach 127.0.0.0/8.
    """
    async with open_context(
        sessions,
        live,
        allow_loopback=allow_loopback,
        hashers=(os.cpu_count() or 1) if hashers is None else hashers,
        contact_url=contact_url,
        transport=transport,
        resolver=resolver,
    ) as ctx:
        on_match = on_match or pipeline.record_sighting
        worker = _Worker(ctx, worker_id, crawl_id, stop_event, on_match, on_progress)
        worker.concurrency, worker.lease = max(1, concurrency), lease
        await worker.run()


class _Worker:
    def __init__(
        self,
        ctx: Context,
        worker_id: str,
        crawl_id: int | None,
        stop_event: asyncio.Event,
        on_match: pipeline.OnMatch,
        on_progress: Progress | None,
    ) -> None:
        self.ctx = ctx
        self.worker_id = worker_id
        self.crawl_id = crawl_id
        self.stop_event = stop_event
        self.on_match = on_match
        self.on_progress = on_progress
        self.concurrency = 16
        self.lease = 60.0
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.finished: list[Item] = []
        self.finished_since = 0.0
        self.claim_after = 0.0
        self.abandoned: list[int] = []
        self.busy = 0
        self.plans: dict[int, Plan] = {}
        self.due = {"heartbeat": 0.0, "seq": 0.0, "progress": 0.0}

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(session, *args)`` in a transaction, in a thread."""

        def call() -> T:
            with self.ctx.sessions.begin() as session:
                return fn(session, *args)

        return await asyncio.to_thread(call)

    async def run(self) -> None:
        await self.db(frontier.release, self.worker_id)
        tasks = [asyncio.create_task(self._consume()) for _ in range(self.concurrency)]
        try:
            await self._loop()
            await self._drain()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._give_back()
            await self._report()

    async def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                if await self._turn():
                    return
            except SQLAlchemyError:
                log.exception("crawler database call failed; retrying")
                await asyncio.sleep(1.0)

    async def _turn(self) -> bool:
        """Do what is due (answers, commit, chores, claim); return True when the crawl is over."""
        if self._seen_due():
            await self._answer_seen()
        if self._commit_due():
            await self._commit()
        await self._chores()
        claimed = await self._claim()
        idle = self.queue.qsize() + self.busy + len(self.finished) == 0
        if claimed == 0 and idle and await self.db(_settled, self.crawl_id):
            return True
        await self._pause(TICK)
        return False

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ctx.wake.wait(), seconds)
        self.ctx.wake.clear()

    async def _consume(self) -> None:
        while True:
            item = await self.queue.get()
            self.busy += 1
            try:
                await engine.process(item, self.ctx)
            except asyncio.CancelledError:
                self.abandoned.append(item.entry.id)
                raise
            finally:
                self.busy -= 1
            if not self.finished:
                self.finished_since = time.monotonic()
            self.finished.append(item)
            low = self.concurrency // 2
            if len(self.finished) >= low or self.queue.qsize() <= low:
                self.ctx.wake.set()

    async def _claim(self) -> int | None:
        """Claim when few claimed URLs are left; None when no claim was tried."""
        if self.queue.qsize() > self.concurrency // 2 or time.monotonic() < self.claim_after:
            return None
        room = 2 * self.concurrency - self.queue.qsize() - self.busy
        entries = await self.db(self._claim_in, room)
        for entry in entries:
            self.queue.put_nowait(Item(entry, self.plans[entry.crawl_id]))
        if not entries:
            self.claim_after = time.monotonic() + POLL
        return len(entries)

    def _claim_in(self, session: Session, room: int) -> list[Entry]:
        entries = frontier.claim(session, self.worker_id, room, self.lease, self.crawl_id)
        missing = {e.crawl_id for e in entries} - self.plans.keys()
        for row in session.scalars(select(Crawl).where(Crawl.id.in_(missing))):
            self.plans[row.id] = Plan(
                row.id,
                row.organisation_id,
                CrawlLimits.from_json(row.limits),
                Scope.from_json(row.scope),
            )
        return entries

    def _seen_due(self) -> bool:
        asks = self.ctx.seen_asks
        if not asks:
            return False
        waited = time.monotonic() - self.ctx.seen_since
        return len(asks) >= pipeline.SEEN_BATCH or waited >= SEEN_EVERY

    async def _answer_seen(self) -> None:
        """Tell the pipeline which images it need not hash: one query for all that asked."""
        asks, self.ctx.seen_asks = self.ctx.seen_asks, {}
        try:
            known = await self.db(pipeline.known_images, list(asks), self.ctx.last_add_seq)
        except SQLAlchemyError:
            log.exception("could not look up seen images; hashing them again")
            known = set()
        for sha256, ask in asks.items():
            if not ask.done():
                ask.set_result(sha256 in known)

    def _commit_due(self) -> bool:
        """Commit in batches, but at once when this worker has no claimed URL left to start."""
        if not self.finished:
            return False
        return (
            len(self.finished) >= max(1, self.concurrency // 2)
            or self.queue.qsize() == 0
            or time.monotonic() - self.finished_since >= COMMIT_EVERY
        )

    async def _commit(self) -> None:
        if not self.finished:
            return
        self.claim_after = 0.0
        batch, self.finished = self.finished, []
        args = (self.worker_id, batch, self.ctx.live, self.on_match)
        try:
            try:
                lost = await self.db(commit.commit, *args)
            except Exception as exc:
                log.info("writing %d URLs one by one (%s)", len(batch), type(exc).__name__)
                lost = await self.db(commit.commit, *args, True)
        except SQLAlchemyError:
            self.finished = batch + self.finished
            raise
        if lost:
            log.warning("%d URLs were taken over by another worker (lease lost)", lost)

    async def _chores(self) -> None:
        now = time.monotonic()
        if now >= self.due["heartbeat"]:
            await self.db(frontier.heartbeat, self.worker_id, self.lease)
            self.due["heartbeat"] = now + self.lease / 3
        if now >= self.due["seq"]:
            self.ctx.last_add_seq = await self.db(pipeline.last_add_seq)
            self.due["seq"] = now + SEQ_EVERY
        if self.on_progress is not None and now >= self.due["progress"]:
            await self._report()
            self.due["progress"] = now + PROGRESS_EVERY

    async def _report(self) -> None:
        if self.on_progress is None:
            return
        if self.crawl_id is not None:
            self.on_progress(await self.db(service.progress, self.crawl_id))
        else:
            self.on_progress({"in_flight": self.busy, "queued_here": self.queue.qsize()})

    async def _drain(self) -> None:
        """After a stop: let started items finish (within their time limit), then commit them."""
        grace = max((p.limits.time_limit for p in self.plans.values()), default=0.0) + 5.0
        deadline = time.monotonic() + grace
        while self.busy and time.monotonic() < deadline:
            if self.ctx.seen_asks:
                await self._answer_seen()
            await self._pause(TICK)
        await self._commit()

    async def _give_back(self) -> None:
        unstarted = [self.queue.get_nowait().entry.id for _ in range(self.queue.qsize())]
        try:
            await self.db(frontier.release, self.worker_id, unstarted + self.abandoned)
        except SQLAlchemyError:
            log.exception("could not give back claimed URLs; their leases will run out")


def _settled(session: Session, crawl_id: int | None) -> bool:
    """Close finished crawls; True when ``crawl_id`` is no longer running."""
    frontier.finish_crawls(session, crawl_id)
    if crawl_id is None:
        return False
    status = session.scalar(select(Crawl.status).where(Crawl.id == crawl_id))
    return status != CrawlStatus.RUNNING.value
