"""Crawls of small loopback sites: robots, the guard, re-checks of seen images, sightings, stop."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import io
import itertools
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler import fetch, worker
from empreinte.crawler.cli import crawl_command
from empreinte.crawler.hasher import BrokenProcessPool, Hasher
from empreinte.crawls import service
from empreinte.crawls.limits import CrawlLimits
from empreinte.hashing.decode import Limits
from empreinte.index.live import LiveIndex
from empreinte.runtime import Runtime
from empreinte.settings import Settings
from empreinte.store.models.crawls import EntryState, Frontier
from empreinte.store.models.notices import Sighting
from tests.conftest import encode, photo
from tests.crawler.conftest import FAST, Sightings, crawl, live_index, register, repost
from tests.crawler.site import Answer, Site, html, image, text


def _gallery_site(images: dict[str, bytes], robots: str = "User-agent: *\nAllow: /\n") -> Site:
    tags = "".join(f'<img src="/img/{name}">' for name in images)

    def route(path: str) -> Answer | None:
        if path == "/robots.txt":
            return text(robots)
        if path == "/":
            return html(f"<html><body>{tags}</body></html>")
        name = path.removeprefix("/img/")
        return image(images[name]) if name in images else None

    return Site(route)


def test_robots_txt_disallowing_everything_is_obeyed(sessions: sessionmaker[Session]) -> None:
    site = _gallery_site({"a.jpg": encode(photo(3))}, robots="User-agent: *\nDisallow: /\n")
    with site.running():
        report = crawl(sessions, [site.base + "/"])
    assert report["errors"] == {"robots": 1}
    assert site.page_hits() == {}
    assert site.hits["/robots.txt"] == 1


def test_rules_for_empreintebot_apply_to_it(sessions: sessionmaker[Session]) -> None:
    robots = "User-agent: EmpreinteBot\nDisallow: /img/\n\nUser-agent: *\nAllow: /\n"
    site = _gallery_site({"a.jpg": encode(photo(3))}, robots=robots)
    with site.running():
        report = crawl(sessions, [site.base + "/"])
    assert report["errors"] == {"robots": 1}
    assert set(site.page_hits()) == {"/"}
    assert "EmpreinteBot/" in next(iter(site.agents))
    assert "(+https://" in next(iter(site.agents))


def test_without_allow_loopback_nothing_is_fetched(sessions: sessionmaker[Session]) -> None:
    site = _gallery_site({"a.jpg": encode(photo(3))})
    with site.running():
        report = crawl(sessions, [site.base + "/"], allow_loopback=False)
    assert report["errors"] == {"blocked_address": 1}
    assert sum(site.hits.values()) == 0


def test_a_direct_image_seed_is_matched_and_recorded_as_a_sighting(
    sessions: sessionmaker[Session],
) -> None:
    [fingerprint_id] = register(sessions, [encode(photo(5))])
    site = _gallery_site({"leak.jpg": repost(5)})
    with site.running():
        report = crawl(
            sessions,
            [site.base + "/img/leak.jpg"],
            live=live_index(sessions),
            on_match=worker.pipeline.record_sighting,
        )
    assert report["matches"] == 1
    with sessions() as session:
        sighting = session.scalars(select(Sighting)).one()
    assert sighting.fingerprint_id == fingerprint_id
    assert sighting.url == site.base + "/img/leak.jpg"
    assert sighting.source == "crawler"


def test_seen_images_are_skipped_until_a_new_registration(
    sessions: sessionmaker[Session],
) -> None:
    images = {f"{i}.jpg": repost(20 + i) for i in range(4)}
    site = _gallery_site(images)
    with site.running():
        first = crawl(sessions, [site.base + "/"], live=live_index(sessions))
        second = crawl(sessions, [site.base + "/"], live=live_index(sessions))
        [registered] = register(sessions, [encode(photo(22))])
        sightings = Sightings()
        third = crawl(sessions, [site.base + "/"], live=live_index(sessions), on_match=sightings)
    assert (first["images_hashed"], first["images_known"], first["matches"]) == (4, 0, 0)
    assert (second["images_hashed"], second["images_known"]) == (0, 4)
    assert (third["images_hashed"], third["matches"]) == (4, 1)
    assert sightings.seen == [(registered, site.base + "/img/2.jpg", site.base + "/")]


def test_a_stopped_worker_gives_its_urls_back_and_the_crawl_resumes(
    sessions: sessionmaker[Session],
) -> None:
    def route(path: str) -> Answer | None:
        if path == "/robots.txt":
            return text("")
        time.sleep(0.05)
        number = int(path.strip("/") or 0)
        return html("".join(f'<a href="/{number * 10 + i}">x</a>' for i in range(1, 11)))

    site = Site(route)
    with sessions.begin() as session:
        crawl_id = service.create_crawl(
            session, None, [site.base + "/"], 2, 60, None, limits=FAST
        ).id

    async def stop_soon() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.6, stop.set)
        await worker.run(
            sessions,
            LiveIndex(),
            crawl_id=crawl_id,
            worker_id="first",
            stop_event=stop,
            allow_loopback=True,
            on_match=Sightings(),
            concurrency=4,
        )

    with site.running():
        asyncio.run(stop_soon())
        with sessions() as session:
            held = session.scalars(
                select(Frontier.id).where(Frontier.state == EntryState.CLAIMED.value)
            ).all()
            middle = service.progress(session, crawl_id)
        assert held == []
        assert middle["status"] == "running" and middle["queued"] > 0
        report = crawl(sessions, [], crawl_id=crawl_id)
    assert report["status"] == "done"
    assert report["pages"] == 60
    assert set(site.page_hits().values()) == {1}


def test_503_with_an_http_date_and_5xx_are_retried_through_a_mock_transport(
    sessions: sessionmaker[Session],
) -> None:
    calls: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        calls[path] = calls.get(path, 0) + 1
        if path == "/robots.txt":
            return httpx.Response(404)
        if path == "/flaky" and calls[path] == 1:
            when = email.utils.formatdate(time.time() + 1, usegmt=True)
            return httpx.Response(503, headers={"Retry-After": when})
        if path == "/down":
            return httpx.Response(500)
        return httpx.Response(200, html=f'<a href="/flaky">f</a><a href="/down">d</a>{path}')

    report = crawl(
        sessions,
        ["http://example.org/"],
        transport=httpx.MockTransport(handler),
        limits=dataclasses.replace(FAST, max_attempts=3, retry_base=0.05),
    )
    assert calls == {"/robots.txt": 1, "/": 1, "/flaky": 2, "/down": 3}
    assert report["retries"] == {"http_500": 2, "http_503": 1}
    assert report["errors"] == {"http_500": 1}


def test_retry_after_forms() -> None:
    limits = CrawlLimits(retry_base=2.0, max_retry_after=600.0)
    assert fetch.retry_after("7", limits, 1) == 7.0
    assert fetch.retry_after("99999", limits, 1) == 600.0
    assert 55 < fetch.retry_after(email.utils.formatdate(time.time() + 60), limits, 1) <= 60
    assert fetch.retry_after("soon", limits, 3) == 8.0
    assert fetch.retry_after("", limits, 1) == 2.0


def test_crawl_command_prints_a_summary(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allow_loopback=True)
    site = _gallery_site({"a.jpg": encode(photo(3)), "b.jpg": b"\xff\xd8\xff broken"})
    out = io.StringIO()
    with site.running(), Runtime(settings, background=False) as runtime:
        code = crawl_command(runtime, [site.base + "/"], 1, 10, out=out)
    assert code == 0
    text_out = out.getvalue()
    assert "Crawl 1 done: 1 pages, 1 images (1 hashed, 0 already seen), 0 matches." in text_out
    assert "Errors: bad_image 1" in text_out


def test_a_failing_on_match_fails_its_image_alone(sessions: sessionmaker[Session]) -> None:
    register(sessions, [encode(photo(6))])
    site = _gallery_site({"leak.jpg": repost(6), "other.jpg": encode(photo(7))})

    def broken(session: Session, match: object, url: str, page_url: str | None) -> None:
        raise RuntimeError("notices are down")

    with site.running():
        report = crawl(sessions, [site.base + "/"], live=live_index(sessions), on_match=broken)
    assert report["status"] == "done"
    assert report["errors"] == {"internal": 1}
    assert (report["pages"], report["images"], report["matches"]) == (1, 1, 0)
    with sessions() as session:
        failed = session.scalars(
            select(Frontier.url).where(Frontier.state == EntryState.FAILED.value)
        ).all()
    assert failed == [site.base + "/img/leak.jpg"]


def test_a_hashing_process_that_dies_is_replaced() -> None:
    hasher = Hasher(1)
    data = encode(photo(8))

    async def go() -> tuple[int, int]:
        first = len((await hasher.queries(data, Limits())).queries)
        pool = hasher._pool
        assert isinstance(pool, ProcessPoolExecutor)
        for process in list(pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            await hasher.queries(data, Limits())
        return first, len((await hasher.queries(data, Limits())).queries)

    try:
        first, again = asyncio.run(go())
    finally:
        hasher.close()
    assert first == again > 0


def test_crawl_delay_from_robots_txt_spaces_requests(sessions: sessionmaker[Session]) -> None:
    images = {f"{i}.jpg": encode(photo(30 + i)) for i in range(3)}
    site = _gallery_site(images, robots="User-agent: *\nCrawl-delay: 0.3\n")
    with site.running():
        crawl(sessions, [site.base + "/"])
    starts = sorted(t for path, times in site.times.items() if path != "/robots.txt" for t in times)
    assert len(starts) == 4
    assert all(b - a >= 0.28 for a, b in itertools.pairwise(starts))


def test_crawl_command_refuses_bad_input(tmp_path: Path) -> None:
    with Runtime(Settings(data_dir=tmp_path), background=False) as runtime:
        assert crawl_command(runtime, ["ftp://example.org/"], out=io.StringIO()) == 2
        assert crawl_command(runtime, [], resume=99, out=io.StringIO()) == 2
