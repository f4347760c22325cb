"""Crawler benchmark: crawl throughput against pure fingerprinting, re-post recall, no double fetch.

A loopback site (:mod:`benchmarks.crawler.site`, in its own process) serves
``--pages`` pages and ``pages × 3.2`` distinct images, one in five a re-post
of a registered photo. Measured:

* pure fingerprinting: ``prepare_image`` (decode, 8 PDQ variants, region PDQ, ORB
  query features, digests)
  over every distinct image, on 1 thread, and in the crawler's own pool of
  ``--hashers`` processes (started and warmed first), best of two runs
  (before and after the crawls);
* one worker on SQLite (the embedded default), ``--hashers`` hashing
  processes, the real ``record_sighting``: distinct images hashed per second
  of wall time, from the worker's start (hashing processes included) to the
  crawl's end, against the pure rates;
* two workers in two processes on PostgreSQL sharing one crawl: the same,
  and the number of URLs the server saw more than once (must be 0);
* recall: re-post URLs with a sighting over re-post URLs on the site.

Run: ``python -m benchmarks.crawler.run [--pages 600] [--hashers N] [--no-postgres]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.common import stamp, table
from benchmarks.crawler import site
from empreinte.crawler import worker
from empreinte.crawler.hasher import Hasher
from empreinte.crawls import service
from empreinte.crawls.limits import CrawlLimits
from empreinte.detection.service import prepare_image
from empreinte.hashing.decode import Limits
from empreinte.hashing.fingerprint import Fingerprint, fingerprint_bytes
from empreinte.store import migrate, registry
from empreinte.store.db import make_engine, make_sessionmaker
from empreinte.store.follow import Follower
from empreinte.store.models.notices import Sighting

ROOT = Path(__file__).resolve().parents[2]
LIMITS = CrawlLimits(
    max_depth=30,
    max_images=10**7,
    max_pages_per_host=10**7,
    max_per_pattern=10**7,
    per_host_concurrency=64,
    per_host_delay=0.0,
)
CONCURRENCY = 16

_WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from empreinte.crawler import worker
    from empreinte.store.db import make_engine, make_sessionmaker
    from empreinte.store.follow import Follower

    url, crawl_id, name, hashers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    sessions = make_sessionmaker(make_engine(url))
    follower = Follower(sessions)
    follower.load()
    started = time.time()
    asyncio.run(worker.run(sessions, follower.live, crawl_id=crawl_id, worker_id=name,
                           stop_event=asyncio.Event(), allow_loopback=True,
                           concurrency=int(sys.argv[5]), hashers=hashers))
    print(started, time.time(), flush=True)
    """
)


@dataclass
class Run:
    name: str
    seconds: float
    report: dict[str, object]
    hits: dict[str, int]
    sighted: set[str]


def _make(numbers: list[int]) -> tuple[dict[int, bytes], list[Fingerprint]]:
    """Make the served images, and the fingerprints of the originals of the re-posts."""
    with mp.get_context("fork").Pool(os.cpu_count()) as pool:
        served = dict(zip(numbers, pool.map(site.served, numbers, chunksize=64), strict=True))
        reposts = [n for n in numbers if site.is_repost(n)]
        records = pool.map(_fingerprint_original, reposts, chunksize=32)
    return served, records


def _fingerprint_original(number: int) -> Fingerprint:
    return fingerprint_bytes(site.original(number))


def pure_thread(images: list[bytes]) -> float:
    """Images per second of ``prepare_image`` over ``images``, one after another."""
    prepare_image(images[0], Limits())
    started = time.perf_counter()
    for data in images:
        prepare_image(data, Limits())
    return len(images) / (time.perf_counter() - started)


def pure_processes(images: list[bytes], processes: int) -> float:
    """Images per second in the crawler's own pool of ``processes`` (started and warmed first)."""

    async def go() -> float:
        hasher = Hasher(processes)
        try:
            await asyncio.gather(*(hasher.queries(d, Limits()) for d in images[: 4 * processes]))
            started = time.perf_counter()
            await asyncio.gather(*(hasher.queries(data, Limits()) for data in images))
            return len(images) / (time.perf_counter() - started)
        finally:
            hasher.close()

    return asyncio.run(go())


def _register(sessions: sessionmaker[Session], records: list[Fingerprint]) -> None:
    with sessions.begin() as session:
        org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
        case, _ = registry.open_case(session, org.id)
        registry.attach_fingerprints(session, case, records)


def _create(sessions: sessionmaker[Session], base: str, layout: site.Layout) -> int:
    with sessions.begin() as session:
        org = registry.get_or_create_organisation(session, "E-Enfance", "ngo")
        crawl = service.create_crawl(
            session, org.id, [base + "/p/0"], 30, 2 * layout.pages, None, limits=LIMITS
        )
        return crawl.id


def _finish(
    name: str, sessions: sessionmaker[Session], crawl_id: int, seconds: float, base: str
) -> Run:
    with sessions() as session:
        report = service.progress(session, crawl_id)
        urls = session.scalars(select(Sighting.url)).all()
    sighted = {"/" + url.split("/", 3)[3] for url in urls}
    return Run(name, seconds, report, site.hits(base), sighted)


def crawl_sqlite(base: str, layout: site.Layout, originals: list[Fingerprint], hashers: int) -> Run:
    folder = Path(tempfile.mkdtemp(prefix="empreinte-crawl-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    migrate.upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    _register(sessions, originals)
    follower = Follower(sessions)
    follower.load()
    crawl_id = _create(sessions, base, layout)
    site.hits(base, reset=True)
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(
        worker.run(
            sessions,
            follower.live,
            crawl_id=crawl_id,
            worker_id="bench",
            stop_event=asyncio.Event(),
            allow_loopback=True,
            concurrency=CONCURRENCY,
            hashers=hashers,
        )
    )
    seconds = time.perf_counter() - started
    run = _finish("1 worker, SQLite", sessions, crawl_id, seconds, base)
    used = time.process_time() - cpu
    hashed = int(str(run.report["images_hashed"]))
    print(
        f"SQLite crawl: {used:.1f} s of CPU in the worker's own process (without its hashing "
        f"processes) over {seconds:.1f} s, {1000 * used / max(1, hashed):.1f} ms per image"
    )
    return run


def crawl_postgres(
    base: str, layout: site.Layout, originals: list[Fingerprint], hashers: int
) -> Run:
    from tests.dbs import fresh_postgres

    with fresh_postgres() as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        _register(sessions, originals)
        crawl_id = _create(sessions, base, layout)
        site.hits(base, reset=True)
        args = [url, str(crawl_id)]
        each = str(max(1, hashers // 2))
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, *args, name, each, str(CONCURRENCY // 2)],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for name in ("alpha", "beta")
        ]
        spans = [
            tuple(map(float, child.communicate(timeout=3600)[0].split())) for child in children
        ]
        seconds = max(end for _, end in spans) - min(start for start, _ in spans)
        run = _finish("2 workers, PostgreSQL", sessions, crawl_id, seconds, base)
        engine.dispose()
    return run


def _row(run: Run, layout: site.Layout, one: float, many: float) -> list[str]:
    report = run.report
    hashed = int(str(report["images_hashed"]))
    pages = int(str(report["pages"]))
    reposts = {u for u in layout.all_urls() if u.split("/")[1] != "p" and _reposted(u)}
    recall = len(run.sighted & reposts) / len(reposts)
    false = len(run.sighted - reposts)
    twice = sum(1 for n in run.hits.values() if n > 1)
    missed = len(layout.all_urls() - set(run.hits))
    per_second = hashed / run.seconds
    return [
        run.name,
        f"{run.seconds:.1f}",
        f"{pages / run.seconds:.0f}",
        f"{per_second:.0f}",
        f"{per_second / one:.0%}",
        f"{per_second / many:.0%}",
        f"{recall:.1%} ({len(run.sighted & reposts)}/{len(reposts)})",
        str(false),
        str(twice),
        str(missed),
        str(report["errors"] or "none"),
    ]


def _reposted(path: str) -> bool:
    return site.is_repost(int(path.rsplit("/", 1)[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--hashers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    layout = site.Layout(args.pages)
    print(f"Crawler benchmark, {stamp()}; load average {os.getloadavg()[0]:.1f}")
    started = time.perf_counter()
    images, originals = _make(list(range(layout.images)))
    print(
        f"site: {layout.pages} pages, {layout.images} distinct images "
        f"({len(originals)} re-posts of registered photos), "
        f"{sum(map(len, images.values())) / len(images) / 1024:.0f} KiB each, "
        f"{site.SIZE[0]}x{site.SIZE[1]}; made in {time.perf_counter() - started:.0f} s\n"
    )
    data = list(images.values())
    with site.serving(layout, images) as base:
        rates = [pure_thread(data), pure_processes(data, args.hashers)]
        runs = [crawl_sqlite(base, layout, originals, args.hashers)]
        if not args.no_postgres:
            runs.append(crawl_postgres(base, layout, originals, args.hashers))
        rates += [pure_thread(data), pure_processes(data, args.hashers)]
    one, many = max(rates[0], rates[2]), max(rates[1], rates[3])
    print(
        table(
            ["pure fingerprinting (prepare_image), best of 2", "images/s"],
            [["1 thread", f"{one:.0f}"], [f"{args.hashers} processes", f"{many:.0f}"]],
        )
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
    headers = ["crawl", "seconds", "pages/s", "images hashed/s", "vs pure, 1 thread"]
    headers += [f"vs pure, {args.hashers} processes"]
    headers += ["re-post recall", "false sightings", "URLs fetched twice", "URLs missed", "errors"]
    print(table(headers, [_row(run, layout, one, many) for run in runs]))


if __name__ == "__main__":
    main()
