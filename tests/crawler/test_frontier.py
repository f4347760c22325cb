"""The frontier on SQLite and PostgreSQL: claims, leases, retries, caps, and crawl completion."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler.commit import LeaseLost, commit
from empreinte.crawler.item import Item, Response
from empreinte.crawls import frontier, service
from empreinte.crawls.jobs import Link, Plan
from empreinte.crawls.limits import CrawlLimits, Scope
from empreinte.index.live import LiveIndex
from empreinte.store.models.crawls import Crawl, EntryState, Frontier, Kind


def _crawl(sessions: sessionmaker[Session], pages: int = 10, **limits: int) -> int:
    seeds = [f"http://e.org/p/{i}" for i in range(pages)]
    with sessions.begin() as session:
        chosen = dataclasses.replace(CrawlLimits(), **limits)
        return service.create_crawl(session, None, seeds, 2, max(pages, 1), None, limits=chosen).id


def test_seeds_are_normalised_and_deduplicated(any_sessions: sessionmaker[Session]) -> None:
    with any_sessions.begin() as session:
        crawl = service.create_crawl(
            session,
            None,
            ["HTTP://E.org/a#x", "http://e.org/a", "http://e.org/b.jpg"],
            2,
            10,
        )
        crawl_id = crawl.id
    with any_sessions() as session:
        rows = session.execute(
            select(Frontier.url, Frontier.kind).where(Frontier.crawl_id == crawl_id)
        ).all()
        assert sorted(rows) == [("http://e.org/a", "page"), ("http://e.org/b.jpg", "image")]
        assert session.get_one(Crawl, crawl_id).scope == {"kind": "domain", "domains": ["e.org"]}


def test_a_dead_workers_lease_runs_out_and_another_worker_takes_over(
    any_sessions: sessionmaker[Session],
) -> None:
    crawl_id = _crawl(any_sessions, 3)
    with any_sessions.begin() as session:
        first = frontier.claim(session, "dead", 10, lease=0.3, crawl_id=crawl_id)
    assert len(first) == 3
    with any_sessions.begin() as session:
        assert frontier.claim(session, "other", 10, lease=30, crawl_id=crawl_id) == []
    time.sleep(0.4)
    with any_sessions.begin() as session:
        taken = frontier.claim(session, "other", 10, lease=30, crawl_id=crawl_id)
    assert [e.id for e in taken] == [e.id for e in first]
    assert {e.attempts for e in taken} == {2}
    with any_sessions.begin() as session:
        assert not frontier.close(session, first[0], "dead", EntryState.DONE)
        assert frontier.close(session, taken[0], "other", EntryState.DONE)


def test_heartbeats_keep_a_lease_and_release_gives_urls_back(
    any_sessions: sessionmaker[Session],
) -> None:
    crawl_id = _crawl(any_sessions, 4)
    with any_sessions.begin() as session:
        mine = frontier.claim(session, "w1", 10, lease=0.3, crawl_id=crawl_id)
    time.sleep(0.2)
    with any_sessions.begin() as session:
        assert frontier.heartbeat(session, "w1", 30) == 4
    time.sleep(0.2)
    with any_sessions.begin() as session:
        assert frontier.claim(session, "w2", 10, lease=30, crawl_id=crawl_id) == []
        assert frontier.release(session, "w1", [mine[0].id]) == 1
    with any_sessions.begin() as session:
        again = frontier.claim(session, "w2", 10, lease=30, crawl_id=crawl_id)
    assert [(e.id, e.attempts) for e in again] == [(mine[0].id, 1)]
    with any_sessions.begin() as session:
        assert frontier.release(session, "w1") == 3


def test_a_url_that_kills_its_workers_is_abandoned_and_the_crawl_ends(
    any_sessions: sessionmaker[Session],
) -> None:
    crawl_id = _crawl(any_sessions, 1)
    for attempt in range(frontier.MAX_CLAIMS):
        with any_sessions.begin() as session:
            assert frontier.claim(session, f"w{attempt}", 1, lease=0.01, crawl_id=crawl_id)
        time.sleep(0.02)
    with any_sessions.begin() as session:
        assert frontier.claim(session, "last", 1, lease=1, crawl_id=crawl_id) == []
        assert frontier.finish_crawls(session, crawl_id) == [crawl_id]
    with any_sessions() as session:
        report = service.progress(session, crawl_id)
    assert report["status"] == "done"
    assert report["errors"] == {"abandoned": 1}


def test_caps_per_crawl_per_host_and_per_pattern(any_sessions: sessionmaker[Session]) -> None:
    crawl_id = _crawl(any_sessions, 1, max_pages_per_host=5, max_per_pattern=3)
    limits = dataclasses.replace(CrawlLimits(), max_pages_per_host=5, max_per_pattern=3)
    links = [Link(f"http://e.org/cal/{i}", Kind.PAGE, 1) for i in range(10)]
    links += [Link(f"http://e.org/x{c}", Kind.PAGE, 1) for c in "abcdef"]
    links += [Link("http://e.org/p/0", Kind.PAGE, 1), Link("http://e.org/i.jpg", Kind.IMAGE, 1)]
    links += [Link("http://f.org/y", Kind.PAGE, 1), Link("http://g.org/z", Kind.PAGE, 1)]
    with any_sessions.begin() as session:
        added = frontier.enqueue(
            session,
            crawl_id,
            dataclasses.replace(limits, max_pages=100, max_images=0),
            links,
            parent_id=None,
            queued=(1, 0),
        )
        assert added.pages == 6
        assert added.dropped == {
            "duplicate": 1,
            "pattern_cap": 7,
            "host_cap": 5,
            "max_images": 1,
        }
        more = [Link("http://h.org/", Kind.PAGE, 1)]
        added = frontier.enqueue(
            session,
            crawl_id,
            dataclasses.replace(limits, max_pages=7),
            more,
            parent_id=None,
            queued=(7, 0),
        )
        assert added.dropped == {"max_pages": 1}


def test_concurrent_claims_never_share_a_url(any_sessions: sessionmaker[Session]) -> None:
    crawl_id = _crawl(any_sessions, 200)
    taken: dict[str, list[int]] = {}

    def claimer(name: str) -> None:
        ids: list[int] = []
        while True:
            with any_sessions.begin() as session:
                batch = frontier.claim(session, name, 7, lease=60, crawl_id=crawl_id)
            if not batch:
                break
            ids += [e.id for e in batch]
        taken[name] = ids

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for ids in taken.values() for i in ids]
    assert len(every) == len(set(every)) == 200


def test_a_commit_skips_urls_another_worker_took_over(any_sessions: sessionmaker[Session]) -> None:
    crawl_id = _crawl(any_sessions, 3)
    with any_sessions.begin() as session:
        entries = frontier.claim(session, "slow", 10, lease=60, crawl_id=crawl_id)
        session.execute(
            update(Frontier).where(Frontier.id == entries[0].id).values(claimed_by="fast")
        )
    plan = Plan(crawl_id, None, CrawlLimits(), Scope(("e.org",)))
    page = Response("http://e.org/", 200, {}, b"", "html")
    items = [Item(entry, plan, response=page) for entry in entries]
    with pytest.raises(LeaseLost), any_sessions.begin() as session:
        commit(session, "slow", items, LiveIndex(), lambda *args: None)
    with any_sessions.begin() as session:
        assert commit(session, "slow", items, LiveIndex(), lambda *args: None, True) == 1
    with any_sessions() as session:
        states = dict(session.execute(select(Frontier.id, Frontier.claimed_by)).all())
        report = service.progress(session, crawl_id)
    assert states[entries[0].id] == "fast"
    assert (report["pages"], report["done"], report["claimed"]) == (2, 2, 1)
