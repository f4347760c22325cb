"""The crawler finds a registered video on a page, through to its sighting and notice."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.crawler import pipeline
from empreinte.crawler.extract import find
from empreinte.hashing.video.decode import VideoLimits
from empreinte.hashing.video.fingerprint import fingerprint_video
from empreinte.store.models.notices import Notice, Sighting
from tests.crawler.conftest import crawl
from tests.crawler.site import Answer, Site, html, text
from tests.hashing.videomake import encode, pan
from tests.notices.conftest import make_world

VICTIM = pan(31, 60, (320, 240))


def test_video_sources_are_found() -> None:
    page = (
        '<video src="/a.mp4" poster="/p.jpg"><source src="/b.webm" type="video/webm"></video>'
        '<source src="/c.mp4" type="video/mp4"><meta property="og:video" content="/d.mp4">'
        '<a href="/e.mov">clip</a><a href="/page">page</a>'
    )
    found = find(page, "https://example.org/", 100, 100)
    names = [url.rsplit("/", 1)[1] for url in found.images]
    assert names == ["a.mp4", "p.jpg", "b.webm", "c.mp4", "d.mp4", "e.mov"]
    assert found.pages == ["https://example.org/page"]


def test_a_crawled_video_is_matched_with_its_time_range(sessions: sessionmaker[Session]) -> None:
    record = fingerprint_video(encode(VICTIM), VideoLimits(max_wall_seconds=60), isolated=False)
    world = make_world(sessions, [record])
    leak = encode(pan(81, 40, (320, 240)) + VICTIM, codec_options={"crf": "30"})
    other = encode(pan(82, 40, (320, 240)))

    def route(path: str) -> Answer | None:
        if path == "/robots.txt":
            return text("User-agent: *\nAllow: /\n")
        if path == "/":
            return html(
                '<html><body><video><source src="/v/leak.mp4" type="video/mp4"></video>'
                '<a href="/v/other.mp4">more</a></body></html>'
            )
        videos = {"/v/leak.mp4": leak, "/v/other.mp4": other}
        return Answer(200, videos[path], {"Content-Type": "video/mp4"}) if path in videos else None

    site = Site(route)
    with site.running():
        report = crawl(
            sessions, [site.base + "/"], live=world.follower.live, on_match=pipeline.record_sighting
        )
    assert (report["images_hashed"], report["matches"], report["errors"]) == (2, 1, {}), report
    with sessions() as session:
        [sighting] = session.scalars(select(Sighting)).all()
        assert sighting.url == site.base + "/v/leak.mp4"
        assert sighting.fingerprint_id == str(record.id)
        notices = session.scalars(select(Notice)).all()
        assert notices, "a notice is drafted for the video sighting"
        evidence = notices[0].content["evidence"]
        assert evidence["method"] == "video"
        assert evidence["video"]["registered_start"] <= 1.0
        assert evidence["video"]["registered_end"] >= 5.0
        statement = notices[0].content["statements"]["en"]["explanation"]
        assert "of the registered one" in statement
