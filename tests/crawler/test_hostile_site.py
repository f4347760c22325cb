"""One crawl of a hostile loopback site: the crawler stays up, obeys, and reports every case."""

from __future__ import annotations

import dataclasses
import itertools
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.store.models.crawls import SeenImage
from tests.conftest import encode, photo, png_bomb
from tests.crawler.conftest import (
    FAST,
    Sightings,
    crawl,
    live_index,
    migrated,
    register,
    repost,
)
from tests.crawler.site import Answer, Site, endless, html, image, redirect, text

GB2 = 2 * 1024**3


def _gallery() -> str:
    return """<html><head><meta property="og:image" content="/img/d.png"></head><body>
    <img src="/img/reg.jpg"><img src="/img/reg-copy.jpg">
    <img srcset="/img/a.jpg 1x, /img/b.jpg 2x">
    <picture><source srcset="/img/c.webp"><img src="/img/a.jpg"></picture>
    <div style="background-image: url('/img/e.jpg')">x</div>
    <a href="/img/f.jpg">full size</a>
    <img src="/img/garbage.jpg"><img src="/img/bomb.png">
    </body></html>"""


_INDEX = """<html><body>
<a href="/gallery">gallery</a> <a href="/malformed">m</a> <a href="/huge">h</a>
<a href="/huge-declared">hd</a> <a href="/slow">s</a> <a href="/loop/a">loop</a>
<a href="/to-private">p</a> <a href="/to-metadata">md</a> <a href="/many-links">many</a>
<a href="/busy">busy</a> <a href="/private/secret">secret</a> <a href="/cal/2024/1">cal</a>
<a href="/session?sid=first">session</a> <a href="mailto:x@example.org">mail</a>
<a href="http://elsewhere.example/">off-site</a>
</body></html>"""

_MALFORMED = (
    "<html><body><a href='/m1'>x<div><a href=/m2>y</p></table><img src=/img/m.jpg>"
    '<b><i></b></i><<<>>><script>document.write(\'<a href="/nope">\')</script><a href="/m3'
)


def _images() -> dict[str, Answer]:
    reposted = repost(1)
    return {
        "/img/reg.jpg": image(reposted),
        "/img/reg-copy.jpg": image(reposted),
        "/img/a.jpg": image(encode(photo(10))),
        "/img/b.jpg": image(encode(photo(11))),
        "/img/c.webp": image(encode(photo(12), "WEBP"), "image/webp"),
        "/img/d.png": image(encode(photo(13), "PNG"), "image/png"),
        "/img/e.jpg": image(encode(photo(14)), "application/octet-stream"),
        "/img/f.jpg": image(encode(photo(15))),
        "/img/m.jpg": image(encode(photo(16))),
        "/img/garbage.jpg": image(b"\x00garbage, not a JPEG" * 50),
        "/img/bomb.png": image(png_bomb(20_000, 20_000), "image/png"),
    }


class HostileSite:
    def __init__(self) -> None:
        self.fixed: dict[str, Answer] = {
            "/robots.txt": text("User-agent: *\nDisallow: /private/\n"),
            "/": html(_INDEX),
            "/gallery": html(_gallery()),
            "/malformed": html(_MALFORMED),
            "/m1": html("<p>one</p>"),
            "/m2": html("<p>two</p>"),
            "/huge": Answer(200, endless(GB2), {"Content-Type": "text/html"}),
            "/huge-declared": Answer(200, b"", {"Content-Length": str(GB2)}),
            "/slow": Answer(200, b"<html>" + b"." * 100, {"Content-Type": "text/html"}, 0.2),
            "/loop/a": redirect("/loop/b"),
            "/loop/b": redirect("/loop/a"),
            "/to-private": redirect("http://10.1.2.3/x"),
            "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
            "/many-links": html("".join(f"<a href=/p/{i}>{i}</a>" for i in range(100_000))),
            "/private/secret": html("<p>secret</p>"),
            **_images(),
        }
        self.busy_hits = 0

    def __call__(self, path: str) -> Answer | None:
        if path == "/huge-declared":
            return _declared_huge()
        if path == "/busy":
            self.busy_hits += 1
            if self.busy_hits <= 2:
                return Answer(429, b"slow down", {"Retry-After": "1"})
            return html("<p>finally</p>")
        if path.startswith("/cal/"):
            year, month = (int(x) for x in path.split("/")[2:4])
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return html(f'<a href="/cal/{year}/{month}">next month</a>')
        if path.startswith("/session"):
            links = "".join(
                f'<a href="/session?sid={uuid.uuid4().hex}">again</a>' for _ in range(20)
            )
            return html(links)
        if path.startswith("/p/"):
            return html("<p>a linked page</p>")
        return self.fixed.get(path)


def _declared_huge() -> Answer:
    return Answer(200, iter([b"<html>" * 1000]), {"Content-Length": str(GB2)})


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    with migrated(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'crawler.db'}") as made:
        yield made


@pytest.fixture(scope="module")
def report(sessions: sessionmaker[Session]) -> tuple[dict[str, Any], Site, Sightings, list[str]]:
    fingerprint_ids = register(sessions, [encode(photo(1))])
    live = live_index(sessions)
    site = Site(HostileSite())
    sightings = Sightings()
    limits = dataclasses.replace(
        FAST, max_per_pattern=5, max_page_bytes=4 * 1024 * 1024, max_pixels=10_000_000
    )
    started = time.monotonic()
    with site.running():
        result = crawl(
            sessions,
            [site.base + "/"],
            live=live,
            depth=30,
            limits=limits,
            on_match=sightings,
            hashers=1,
        )
    result["seconds"] = time.monotonic() - started
    return result, site, sightings, fingerprint_ids


def test_every_hostile_case_is_reported(report: Any) -> None:
    result, _, _, _ = report
    assert result["status"] == "done"
    errors = result["errors"]
    assert errors["robots"] == 1
    assert errors["too_large"] == 2
    assert errors["too_slow"] == 1
    assert errors["redirect_loop"] == 1
    assert errors["blocked_address"] == 2
    assert errors["bad_image"] == 1
    assert errors["image_too_large"] == 1
    assert result["retries"] == {"http_429": 2}
    assert result["dropped"]["pattern_cap"] >= 1
    assert result["dropped"]["links_per_page"] >= 1
    assert result["dropped"]["out_of_scope"] == 1
    assert result["seconds"] < 40


def test_rules_are_obeyed_and_each_page_is_fetched_once(report: Any) -> None:
    _, site, _, _ = report
    hits = site.page_hits()
    assert hits["/private/secret"] == 0
    assert site.hits["/robots.txt"] == 1
    assert {k for k, v in hits.items() if v > 1} == {"/busy"}
    assert hits["/busy"] == 3
    gaps = [b - a for a, b in itertools.pairwise(site.times["/busy"])]
    assert all(gap >= 0.95 for gap in gaps), gaps
    assert sum(1 for k in hits if k.startswith("/session")) == 1
    assert sum(1 for k in hits if k.startswith("/cal/")) <= 5
    assert sum(1 for k in hits if k.startswith("/p/")) <= 5
    assert hits["/m1"] == hits["/m2"] == hits["/img/m.jpg"] == 1


def test_no_image_bytes_reach_the_database(report: Any, sessions: Any) -> None:
    url = str(sessions.kw["bind"].url)
    stored = b"".join(
        Path(url.removeprefix("sqlite:///") + suffix).read_bytes()
        for suffix in ("", "-wal")
        if Path(url.removeprefix("sqlite:///") + suffix).exists()
    )
    for name, answer in _images().items():
        body = answer.body
        assert isinstance(body, bytes)
        middle = body[len(body) // 2 : len(body) // 2 + 64]
        assert middle not in stored, name


def test_every_image_source_is_found_and_matched(report: Any, sessions: Any) -> None:
    result, site, sightings, fingerprint_ids = report
    hits = site.page_hits()
    for name in ("a", "b", "e", "f", "m"):
        assert hits[f"/img/{name}.jpg"] == 1, name
    assert hits["/img/c.webp"] == hits["/img/d.png"] == 1
    base = site.base
    assert sorted(sightings.seen) == [
        (fingerprint_ids[0], f"{base}/img/reg-copy.jpg", f"{base}/gallery"),
        (fingerprint_ids[0], f"{base}/img/reg.jpg", f"{base}/gallery"),
    ]
    assert result["matches"] == 2
    assert result["images_hashed"] == 8
    with sessions() as session:
        assert len(session.scalars(select(SeenImage.sha256)).all()) == 7
