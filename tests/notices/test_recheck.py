"""Sent notices are re-checked on a schedule: re-sent while online, removed when gone, reopened."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.fingerprint import fingerprint_bytes
from empreinte.notices import review
from empreinte.notices.fetch import HttpFetcher
from empreinte.notices.service import record_sighting
from empreinte.notices.worker import WorkerConfig, run_once
from empreinte.store.models.notices import (
    ContactRole,
    Delivery,
    Notice,
    NoticeCheck,
    NoticeStatus,
    Transition,
)
from tests.conftest import encode, photo
from tests.notices.conftest import T0, World, add_contacts, channels, make_world
from tests.notices.servers import Receiver, Site, site, webhook

URL = "https://cdn.photoshare.example/i/abc.jpg"
DAY = dt.timedelta(hours=24)
CONFIG = WorkerConfig(escalate_after=3)
IMAGE = encode(photo(21), "JPEG", quality=90)
OTHER = encode(photo(22), "JPEG", quality=90)


@dataclass
class Scene:
    world: World
    site: Site
    receiver: Receiver
    escalation: Receiver
    fetcher: HttpFetcher
    notice_id: str

    def run(self, at: dt.timedelta) -> None:
        chans, client = channels()
        run_once(self.world.sessions, chans, self.fetcher, T0 + at, CONFIG)
        client.close()

    def notice(self) -> Notice:
        with self.world.sessions() as session:
            return session.get_one(Notice, self.notice_id)

    def serve(self, status: int, body: bytes = IMAGE) -> None:
        self.site.pages["/i/abc.jpg"] = (status, "image/jpeg", body)


def _sighting(world: World, session: Session, at: dt.datetime) -> str:
    match = world.match(session, world.records[0], distance=2)
    sighting = record_sighting(
        session,
        match=match,
        url=URL,
        page_url="https://photoshare.example/p/1",
        source="crawler",
        now=at,
    )
    return sighting.id


@pytest.fixture
def scene(sessions: sessionmaker[Session]) -> Iterator[Scene]:
    world = make_world(sessions, [fingerprint_bytes(IMAGE)])
    with site() as pages, webhook() as receiver, webhook() as escalation:
        pages.pages["/i/abc.jpg"] = (200, "image/jpeg", IMAGE)
        add_contacts(world, webhook=receiver.url)
        add_contacts(world, webhook=escalation.url, domain="*", role=ContactRole.ESCALATION)
        with sessions.begin() as session:
            sighting_id = _sighting(world, session, T0)
            notice = session.scalars(select(Notice).where(Notice.sighting_id == sighting_id)).one()
            review.approve(session, notice, actor="key:reviewer", now=T0)
            notice_id = notice.id
        client = httpx.Client(transport=pages.transport(), timeout=5)
        yield Scene(world, pages, receiver, escalation, HttpFetcher(client), notice_id)
        client.close()


def test_resent_every_day_escalated_then_removed_when_gone(scene: Scene) -> None:
    scene.run(dt.timedelta(seconds=30))
    assert scene.notice().status == "sent"
    for day in (1, 2, 3):
        scene.run(day * DAY + dt.timedelta(seconds=30))
    assert [k.split(".")[1] for k in scene.receiver.counts()] == ["r0", "r1", "r2", "r3"]
    assert [k.split(".")[1] for k in scene.escalation.counts()] == ["r3"]
    assert scene.notice().escalated_at is not None
    scene.serve(404, b"")
    scene.run(4 * DAY + dt.timedelta(seconds=30))
    notice = scene.notice()
    assert notice.status == "removed"
    assert notice.removed_at is not None and notice.sent_at is not None
    assert notice.removed_at - notice.sent_at == 4 * DAY
    scene.run(5 * DAY)
    assert len(scene.receiver.requests) == 4
    with scene.world.sessions() as session:
        outcomes = session.scalars(select(NoticeCheck.outcome).order_by(NoticeCheck.id)).all()
        assert outcomes == ["present", "present", "present", "gone"]


def test_changed_content_counts_as_removed_and_errors_change_nothing(scene: Scene) -> None:
    scene.run(dt.timedelta(seconds=30))
    scene.serve(503, b"")
    scene.run(DAY + dt.timedelta(seconds=30))
    assert scene.notice().status == "sent"
    scene.serve(200, OTHER)
    scene.run(2 * DAY + dt.timedelta(seconds=30))
    assert scene.notice().status == "removed"
    with scene.world.sessions() as session:
        checks = session.scalars(select(NoticeCheck).order_by(NoticeCheck.id)).all()
        assert [(c.outcome, c.http_status) for c in checks] == [("error", 503), ("changed", 200)]


def test_a_reappearance_reopens_and_resends_the_notice(scene: Scene) -> None:
    scene.run(dt.timedelta(seconds=30))
    scene.serve(410, b"")
    scene.run(DAY + dt.timedelta(seconds=30))
    assert scene.notice().status == "removed"
    with scene.world.sessions.begin() as session:
        _sighting(scene.world, session, T0 + 3 * DAY)
    assert scene.notice().status == "reappeared"
    scene.serve(200)
    scene.run(3 * DAY + dt.timedelta(minutes=1))
    notice = scene.notice()
    assert (notice.status, notice.round) == ("sent", 1)
    assert [k.split(".")[1] for k in scene.receiver.counts()] == ["r0", "r1"]
    with scene.world.sessions() as session:
        moves = session.scalars(
            select(Transition.to_status)
            .where(Transition.notice_id == notice.id)
            .order_by(Transition.id)
        ).all()
    assert moves == ["draft", "approved", "sent", "removed", "reappeared", "sent"]


def test_a_platform_removal_is_verified_and_reopened_if_false(scene: Scene) -> None:
    scene.run(dt.timedelta(seconds=30))
    with scene.world.sessions.begin() as session:
        reference = session.get_one(Notice, scene.notice_id).reference
        review.acknowledge(
            session,
            reference,
            scene.world.platform_id,
            NoticeStatus.REMOVED,
            actor="key:platform",
            now=T0 + dt.timedelta(hours=2),
        )
    assert scene.notice().status == "removed"
    scene.run(dt.timedelta(hours=3, minutes=1))
    assert scene.notice().status == "sent"
    with scene.world.sessions() as session:
        rounds = session.scalars(select(Delivery.round).order_by(Delivery.id)).all()
    assert list(rounds) == [0, 1]
