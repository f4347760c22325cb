"""The yearly DSA report counts notices by host, content type and action, with exact times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.notices import report, review
from empreinte.notices.fetch import HttpFetcher
from empreinte.notices.service import record_sighting
from empreinte.notices.worker import run_once
from empreinte.store.models.notices import Notice, NoticeStatus
from tests.notices.conftest import T0, World, add_contacts, channels, make_world
from tests.notices.servers import Receiver, site, webhook

H = dt.timedelta(hours=1)


@dataclass
class Timeline:
    world: World
    receiver: Receiver
    fetcher: HttpFetcher

    def send(self, url: str, at: dt.datetime) -> str:
        """Find ``url``, approve its notice and deliver it, all at ``at``; return its reference."""
        with self.world.sessions.begin() as session:
            match = self.world.match(session, self.world.records[0], distance=3)
            sighting = record_sighting(
                session, match=match, url=url, page_url=None, source="crawler", now=at
            )
            notice = session.scalars(select(Notice).where(Notice.sighting_id == sighting.id)).one()
            if notice.status == "draft":
                review.approve(session, notice, actor="key:reviewer", now=at)
            reference = notice.reference
        chans, client = channels()
        run_once(self.world.sessions, chans, self.fetcher, at)
        client.close()
        return reference

    def answer(self, reference: str, status: NoticeStatus, at: dt.datetime) -> None:
        with self.world.sessions.begin() as session:
            review.acknowledge(
                session, reference, self.world.platform_id, status, actor="key:platform", now=at
            )


@pytest.fixture
def timeline(sessions: sessionmaker[Session]) -> Iterator[Timeline]:
    world = make_world(sessions)
    with webhook() as receiver, site() as pages:
        add_contacts(world, webhook=receiver.url, domain="photoshare.example")
        add_contacts(world, webhook=receiver.url, domain="tube.example")
        client = httpx.Client(transport=pages.transport())
        yield Timeline(world, receiver, HttpFetcher(client))
        client.close()


def test_yearly_report_on_a_scripted_timeline(timeline: Timeline) -> None:
    late_2025 = dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)
    old = timeline.send("https://cdn.photoshare.example/old.jpg", late_2025)
    timeline.answer(old, NoticeStatus.REMOVED, late_2025 + 2 * H)
    hours = [2, 4, 10, 30, 50]
    refs = [
        timeline.send(f"https://cdn.photoshare.example/{i}.jpg", T0 + dt.timedelta(minutes=i))
        for i in range(len(hours))
    ]
    back = timeline.send("https://cdn.photoshare.example/back.jpg", T0)
    refused = timeline.send("https://tube.example/v/1.jpg", T0)
    pending = timeline.send("https://tube.example/v/2.jpg", T0)
    for i, (ref, h) in enumerate(zip(refs, hours, strict=True)):
        timeline.answer(ref, NoticeStatus.ACKNOWLEDGED, T0 + dt.timedelta(minutes=i + 30))
        timeline.answer(ref, NoticeStatus.REMOVED, T0 + dt.timedelta(minutes=i) + h * H)
    timeline.answer(refused, NoticeStatus.REFUSED, T0 + 5 * H)
    timeline.answer(pending, NoticeStatus.ACKNOWLEDGED, T0 + H)
    timeline.answer(back, NoticeStatus.REMOVED, T0 + 6 * H)
    assert timeline.send("https://cdn.photoshare.example/back.jpg", T0 + 10 * H) == back
    timeline.answer(back, NoticeStatus.REMOVED, T0 + 13 * H)

    with timeline.world.sessions() as session:
        found = report.yearly(session, 2026, now=T0 + 100 * H)
        previous = report.yearly(session, 2025, organisation_id=timeline.world.ngo_id)
    kind = "non_consensual_intimate_image"
    assert found["rows"] == [
        {
            "host": "cdn.photoshare.example",
            "content_type": kind,
            "action": "removed",
            "notices": 6,
            "removals": 7,
            "median_hours_to_removal": 6.0,
            "p90_hours_to_removal": 50.0,
        },
        {
            "host": "tube.example",
            "content_type": kind,
            "action": "pending",
            "notices": 1,
            "removals": 0,
            "median_hours_to_removal": None,
            "p90_hours_to_removal": None,
        },
        {
            "host": "tube.example",
            "content_type": kind,
            "action": "refused",
            "notices": 1,
            "removals": 0,
            "median_hours_to_removal": None,
            "p90_hours_to_removal": None,
        },
    ]
    assert found["totals"] == {
        "notices": 8,
        "removed": 6,
        "refused": 1,
        "pending": 1,
        "withdrawn": 0,
        "resends": 1,
        "removals": 7,
        "median_hours_to_removal": 6.0,
        "p90_hours_to_removal": 50.0,
    }
    assert previous["notifier"] == "E-Enfance"
    assert [(r["notices"], r["median_hours_to_removal"]) for r in previous["rows"]] == [(1, 2.0)]
    text = report.render_markdown(found)
    print(text)
    assert (
        "| cdn.photoshare.example | non_consensual_intimate_image | removed | 6 | 7 | 6.0 | 50.0 |"
        in text
    )
    for secret in (timeline.world.case_number, timeline.world.case_id, "https://"):
        assert secret not in text and secret not in str(found)
