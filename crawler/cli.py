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
from typing import Any, Protocol, TextIO

from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler import worker
from empreinte.crawler.pipeline import OnMatch
from empreinte.crawls import service
from empreinte.errors import InvalidSeed
from empreinte.settings import Settings
from empreinte.store.follow import Follower
from empreinte.store.registry import NotFound

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_PARTIAL = 3


class Runtime(Protocol):
    """What a crawl runs on: the process's :class:`empreinte.runtime.Runtime`, started."""

    settings: Settings
    sessions: sessionmaker[Session]
    follower: Follower


def crawl_command(
    runtime: Runtime,
    urls: Sequence[str],
    depth: int = 2,
    max_pages: int = 1000,
    *,
    organisation_id: int | None = None,
    scope: Sequence[str] | None = None,
    resume: int | None = None,
    on_match: OnMatch | None = None,
    hashers: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Run a crawl to its end in this process; return 0 when done, 2 for bad input, 3 if stopped.

    Loopback is reachable only when ``runtime.settings.allow_loopback`` says so.
    """
    stream = out or sys.stdout
    sessions = runtime.sessions
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
        return EXIT_USAGE
    runtime.follower.ready.wait()
    line = _Line(stream)
    options = {
        "allow_loopback": runtime.settings.allow_loopback,
        "on_match": on_match,
        "hashers": hashers,
    }
    asyncio.run(_crawl(sessions, runtime.follower, crawl_id, options, line))
    with sessions() as session:
        final = service.progress(session, crawl_id)
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
