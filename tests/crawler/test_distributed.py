"""Crawls survive kill -9 without refetching finished pages, and workers in two processes share one.

Both tests crawl a loopback site whose pages form a binary tree, each page
with its own image, and count the server's hits per URL.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawls import service
from empreinte.store.models.crawls import EntryState, Frontier
from tests.conftest import encode, photo
from tests.crawler.conftest import FAST, migrated
from tests.crawler.site import Answer, Site, html, image, text
from tests.dbs import fresh_postgres

ROOT = Path(__file__).resolve().parents[2]

_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from empreinte.crawler import worker
    from empreinte.index.live import LiveIndex
    from empreinte.store.db import make_engine, make_sessionmaker

    url, crawl_id, worker_id, lease = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    sessions = make_sessionmaker(make_engine(url))
    asyncio.run(
        worker.run(
            sessions,
            LiveIndex(),
            crawl_id=crawl_id,
            worker_id=worker_id,
            stop_event=asyncio.Event(),
            allow_loopback=True,
            on_match=lambda *args: None,
            concurrency=4,
            hashers=1,
            lease=lease,
            contact_url="https://empreinte.test/" + worker_id,
        )
    )
    print("done", flush=True)
    """
)


class Tree:
    """Page ``i`` links to pages ``2i+1`` and ``2i+2`` and shows image ``i``, after a delay."""

    def __init__(self, pages: int, delay: float) -> None:
        self.pages = pages
        self.delay = delay
        self.images = {i: encode(photo(i, (96, 72))) for i in range(pages)}

    def __call__(self, path: str) -> Answer | None:
        if path == "/robots.txt":
            return text("User-agent: *\nAllow: /\n")
        time.sleep(self.delay)
        kind, _, number = path.strip("/").partition("/")
        if not number.isdigit() or int(number) >= self.pages:
            return None
        i = int(number)
        if kind == "img":
            return image(self.images[i])
        children = [c for c in (2 * i + 1, 2 * i + 2) if c < self.pages]
        links = "".join(f'<a href="/p/{c}">{c}</a>' for c in children)
        return html(f'<img src="/img/{i}">{links}')

    def urls(self) -> set[str]:
        return {f"/p/{i}" for i in range(self.pages)} | {f"/img/{i}" for i in range(self.pages)}


def _start(sessions: sessionmaker[Session], site: Site, pages: int) -> int:
    limits = dataclasses.replace(FAST, per_host_concurrency=16)
    with sessions.begin() as session:
        crawl = service.create_crawl(
            session, None, [site.base + "/p/0"], 12, pages, None, limits=limits
        )
        return crawl.id


def _worker(url: str, crawl_id: int, worker_id: str, lease: float = 60.0) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, url, str(crawl_id), worker_id, str(lease)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _done_paths(sessions: sessionmaker[Session], crawl_id: int) -> set[str]:
    with sessions() as session:
        rows = session.scalars(
            select(Frontier.url).where(
                Frontier.crawl_id == crawl_id, Frontier.state == EntryState.DONE.value
            )
        ).all()
    return {"/" + url.split("/", 3)[3] for url in rows}


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _gone(pids: set[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def sqlite_sessions(tmp_path: Path) -> Iterator[tuple[str, sessionmaker[Session]]]:
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    with migrated(url) as sessions:
        yield url, sessions


def test_kill_9_resumes_without_refetching_finished_pages(
    sqlite_sessions: tuple[str, sessionmaker[Session]],
) -> None:
    url, sessions = sqlite_sessions
    tree = Tree(120, delay=0.03)
    site = Site(tree)
    with site.running():
        crawl_id = _start(sessions, site, 120)
        child = _worker(url, crawl_id, "doomed", lease=2.0)
        deadline = time.monotonic() + 60
        while len(_done_paths(sessions, crawl_id)) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        hashers = _children(child.pid)
        assert hashers, "the worker hashes in a process of its own"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        finished = _done_paths(sessions, crawl_id)
        before = site.page_hits()
        assert 40 <= len(finished) < len(tree.urls())
        survivor = _worker(url, crawl_id, "survivor")
        _, err = survivor.communicate(timeout=90)
        assert survivor.returncode == 0, err
        after = site.page_hits()
    assert _gone(hashers, within=10), "hashing processes outlived their killed worker"
    refetched = {path for path in finished if after[path] != before[path]}
    assert refetched == set()
    assert set(after) == tree.urls()
    with sessions() as session:
        report = service.progress(session, crawl_id)
    assert report["status"] == "done"
    assert report["pages"] == report["images"] == 120
    assert report["errors"] == {}


@pytest.mark.postgres
def test_two_workers_in_two_processes_fetch_each_page_once() -> None:
    with fresh_postgres() as url, migrated(url) as sessions:
        tree = Tree(150, delay=0.01)
        site = Site(tree)
        with site.running():
            crawl_id = _start(sessions, site, 150)
            workers = [_worker(url, crawl_id, name) for name in ("alpha", "beta")]
            for process in workers:
                _, err = process.communicate(timeout=90)
                assert process.returncode == 0, err
        hits = site.page_hits()
        with sessions() as session:
            report = service.progress(session, crawl_id)
    assert set(hits) == tree.urls()
    assert set(hits.values()) == {1}
    assert report["status"] == "done"
    assert report["pages"] == report["images"] == 150
    shares = {agent.rsplit("/", 1)[-1].rstrip(")"): n for agent, n in site.agents.items() if n}
    assert set(shares) == {"alpha", "beta"}, shares
    print(f"\npages and images fetched by each worker: {shares}")
