"""Crawl from the command line: ``empreinte crawl URL... [--depth N] [--max-pages N]``.

Creates the crawl (or resumes one), runs one worker in this process with a
live index that follows the registry, prints one progress line while it runs
and a summary at the end. Ctrl-C stops cleanly; ``--resume ID`` goes on.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections.abc import Sequence
from typing import Any, TextIO

from empreinte.crawler import service, worker
from empreinte.crawler.errors import InvalidSeed
from empreinte.crawler.pipeline import OnMatch
from empreinte.settings import Settings
from empreinte.store import migrate
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower
from empreinte.store.registry import NotFound

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_PARTIAL = 3


def crawl_command(
    urls: Sequence[str],
    depth: int = 2,
    max_pages: int = 1000,
    *,
    settings: Settings | None = None,
    organisation_id: int | None = None,
    scope: Sequence[str] | None = None,
    resume: int | None = None,
    allow_loopback: bool = False,
    on_match: OnMatch | None = None,
    hashers: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Run a crawl to its end in this process; return 0 when done, 2 for bad input, 3 if stopped."""
    settings = settings or Settings()
    stream = out or sys.stdout
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.url)
    engine = make_engine(settings.url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions.begin() as session:
            if resume is not None:
                crawl_id = int(service.progress(session, resume)["crawl_id"])
            else:
                crawl = service.create_crawl(
                    session, organisation_id, urls, depth, max_pages, scope or None
                )
                crawl_id = crawl.id
    except (InvalidSeed, NotFound) as exc:
        print(f"empreinte: {exc}", file=sys.stderr)
        engine.dispose()
        return EXIT_USAGE
    follower = Follower(sessions, settings.snapshot_dir, interval=settings.follow_interval)
    follower.start()
    follower.ready.wait()
    line = _Line(stream)
    try:
        options = {"allow_loopback": allow_loopback, "on_match": on_match, "hashers": hashers}
        asyncio.run(_crawl(sessions, follower, crawl_id, options, line))
        with sessions() as session:
            final = service.progress(session, crawl_id)
    finally:
        follower.stop(snapshot=False)
        engine.dispose()
    line.close()
    print_summary(final, stream)
    return EXIT_OK if final["status"] == "done" else EXIT_PARTIAL


async def _crawl(
    sessions: Any, follower: Follower, crawl_id: int, options: dict[str, Any], line: _Line
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await worker.run(
        sessions,
        follower.live,
        crawl_id=crawl_id,
        worker_id=f"cli-{uuid.uuid4().hex[:12]}",
        stop_event=stop,
        on_progress=line,
        **options,
    )


class _Line:
    """One progress line, rewritten in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = False

    def __call__(self, report: dict[str, Any]) -> None:
        if not self.tty:
            return
        errors = sum(report.get("errors", {}).values())
        text = (
            f"crawl {report['crawl_id']}: {report['pages']} pages, {report['images']} images, "
            f"{report['matches']} matches, {errors} errors, {report['queued']} queued"
        )
        self.stream.write(f"\r{text:<100}")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def print_summary(report: dict[str, Any], out: TextIO) -> None:
    """Print a crawl's outcome: counts, then each kind of error, retry and dropped link."""
    state = (
        "done"
        if report["status"] == "done"
        else f"stopped (resume with --resume {report['crawl_id']})"
    )
    print(
        f"Crawl {report['crawl_id']} {state}: {report['pages']} pages, {report['images']} images "
        f"({report['images_hashed']} hashed, {report['images_known']} already seen), "
        f"{report['matches']} matches.",
        file=out,
    )
    for title, key in (
        ("Errors", "errors"),
        ("Retried", "retries"),
        ("Links not followed", "dropped"),
    ):
        counts = report.get(key) or {}
        if counts:
            print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=out)
