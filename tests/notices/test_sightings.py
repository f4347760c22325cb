"""A match at a URL becomes one sighting and one draft notice; policies decide what is automatic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from empreinte.hashing.signals import SignalType
from empreinte.notices import consent, review, safety
from empreinte.notices.errors import InvalidTransition
from empreinte.notices.service import record_sighting
from empreinte.store import models as m
from empreinte.store.models.notices import (
    Delivery,
    Notice,
    NoticeStatus,
    Sighting,
    Transition,
)
from empreinte.store.registry import Conflict
from tests.notices.conftest import T0, add_contacts, make_world, withdraw
from tests.store.conftest import random_record

URL = "https://cdn.photoshare.example/i/abc.jpg#top"
PAGE = "https://photoshare.example/p/123"


def _notices(session: Session) -> list[Notice]:
    return list(session.scalars(select(Notice).order_by(Notice.created_at, Notice.id)))


def _history(session: Session, notice: Notice) -> list[tuple[str | None, str, str]]:
    rows = session.scalars(
        select(Transition).where(Transition.notice_id == notice.id).order_by(Transition.id)
    )
    return [(t.from_status, t.to_status, t.actor) for t in rows]


def test_a_match_makes_one_sighting_and_one_draft(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    record = world.records[0]
    with sessions.begin() as session:
        match = world.match(session, record, distance=14)
        first = record_sighting(
            session,
            match=match,
            url=URL,
            page_url=PAGE,
            source="crawler",
            box=(10, 20, 300, 200),
            now=T0,
        )
    with sessions.begin() as session:
        again = world.match(session, record, distance=3, seed=1)
        second = record_sighting(
            session,
            match=again,
            url=URL,
            page_url=None,
            source="platform",
            now=T0 + dt.timedelta(hours=5),
        )
    assert first.id == second.id
    with sessions() as session:
        sighting = session.get_one(Sighting, first.id)
        assert sighting.url == "https://cdn.photoshare.example/i/abc.jpg"
        assert sighting.host == "cdn.photoshare.example"
        assert sighting.page_url == PAGE
        assert sighting.match_id == match.match_id
        assert sighting.last_match_id == again.match_id
        assert (sighting.signal, sighting.distance) == ("pdq", 3)
        assert sighting.confidence == again.confidence
        assert sighting.box is None
        assert sighting.last_seen.replace(tzinfo=dt.UTC) == T0 + dt.timedelta(hours=5)
        [notice] = _notices(session)
        assert notice.status == "draft"
        assert notice.organisation_id == world.ngo_id
        assert _history(session, notice) == [(None, "draft", "crawler")]
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.mark.parametrize(
    ("signal", "distance", "expected"),
    [
        (SignalType.PDQ, 8, "approved"),
        (SignalType.PDQ, 20, "draft"),
        (SignalType.SHA256, 0, "approved"),
    ],
)
def test_auto_approval_takes_only_near_exact_matches(
    sessions: sessionmaker[Session], signal: SignalType, distance: int, expected: str
) -> None:
    world = make_world(sessions)
    add_contacts(world, webhook="http://127.0.0.1:9/hook")
    with sessions.begin() as session:
        safety.set_policy(
            session,
            world.ngo_id,
            auto_approve=True,
            auto_approve_pdq_max=10,
            flood_urls=20,
            flood_window_hours=24,
        )
    with sessions.begin() as session:
        match = world.match(session, world.records[0], distance=distance, signal=signal)
        record_sighting(session, match=match, url=URL, page_url=PAGE, source="crawler", now=T0)
    with sessions() as session:
        [notice] = _notices(session)
        assert notice.status == expected
        queued = session.scalar(select(func.count()).select_from(Delivery))
        assert queued == (1 if expected == "approved" else 0)
        if expected == "approved":
            assert _history(session, notice)[-1] == ("draft", "approved", "policy:auto-approve")


def test_not_blocked_feedback_stops_auto_approval(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    with sessions.begin() as session:
        safety.set_policy(
            session,
            world.ngo_id,
            auto_approve=True,
            auto_approve_pdq_max=10,
            flood_urls=20,
            flood_window_hours=24,
        )
        earlier = world.match(session, world.records[0])
        session.flush()
        event = session.get_one(m.MatchEvent, earlier.match_id)
        event.source, event.organisation_id = "platform", world.platform_id
        event.feedback, event.feedback_at = "not_blocked", T0
    with sessions.begin() as session:
        match = world.match(session, world.records[0])
        record_sighting(session, match=match, url=URL, page_url=PAGE, source="crawler", now=T0)
    with sessions() as session:
        [notice] = _notices(session)
        assert notice.status == "draft"
        trust = safety.reliability(session, notice.fingerprint_id)
        assert (trust.blocked, trust.not_blocked, trust.score) == (0, 1, 0.333)


def test_policy_cannot_auto_approve_beyond_near_exact(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    with sessions.begin() as session, pytest.raises(Conflict):
        safety.set_policy(
            session,
            world.ngo_id,
            auto_approve=True,
            auto_approve_pdq_max=31,
            flood_urls=20,
            flood_window_hours=24,
        )


def test_every_transition_is_recorded_and_illegal_ones_refused(
    sessions: sessionmaker[Session],
) -> None:
    world = make_world(sessions)
    with sessions.begin() as session:
        match = world.match(session, world.records[0], distance=12)
        record_sighting(session, match=match, url=URL, page_url=PAGE, source="crawler", now=T0)
    with sessions.begin() as session:
        [notice] = _notices(session)
        review.approve(session, notice, actor="key:reviewer1", now=T0 + dt.timedelta(minutes=3))
    with sessions.begin() as session:
        [notice] = _notices(session)
        with pytest.raises(InvalidTransition):
            review.approve(session, notice, actor="key:reviewer1", now=T0)
        with pytest.raises(InvalidTransition):
            review.reject(session, notice, actor="key:reviewer1", now=T0, reason="late")
        history = session.scalars(select(Transition).where(Transition.notice_id == notice.id))
        assert [(t.to_status, t.actor, t.at.replace(tzinfo=dt.UTC)) for t in history] == [
            ("draft", "crawler", T0),
            ("approved", "key:reviewer1", T0 + dt.timedelta(minutes=3)),
        ]


def test_approval_needs_the_notifier_email(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions, email=None)
    with sessions.begin() as session:
        match = world.match(session, world.records[0])
        record_sighting(session, match=match, url=URL, page_url=None, source="crawler", now=T0)
    with sessions.begin() as session:
        [notice] = _notices(session)
        with pytest.raises(Conflict, match="16"):
            review.approve(session, notice, actor="key:r", now=T0)


def test_withdrawn_case_notice_cannot_be_approved_and_is_cancelled(
    sessions: sessionmaker[Session],
) -> None:
    world = make_world(sessions)
    with sessions.begin() as session:
        match = world.match(session, world.records[0])
        record_sighting(session, match=match, url=URL, page_url=None, source="crawler", now=T0)
    withdraw(world)
    with sessions.begin() as session:
        [notice] = _notices(session)
        with pytest.raises(Conflict, match="withdrawn"):
            review.approve(session, notice, actor="key:r", now=T0)
    with sessions.begin() as session:
        assert consent.sweep(session, T0) == 1
    with sessions() as session:
        [notice] = _notices(session)
        assert notice.status == "cancelled"


def test_negative_list_suppresses_by_url_and_by_hash(sessions: sessionmaker[Session]) -> None:
    rng = np.random.default_rng(3)
    world = make_world(sessions, [random_record(rng), random_record(rng)])
    one, two = world.records
    with sessions.begin() as session:
        safety.add_negative(
            session,
            url="https://news.example/article.jpg",
            reason="press photo, consented",
            actor="key:ngo",
            organisation_id=world.ngo_id,
            now=T0,
        )
        pdq = two.get(SignalType.PDQ)
        assert pdq is not None
        safety.add_negative(
            session,
            signal=SignalType.PDQ,
            value=pdq.value.raw,
            reason="generic meme",
            actor="key:ngo",
            organisation_id=world.ngo_id,
            now=T0,
        )
    with sessions.begin() as session:
        first = world.match(session, one)
        by_url = record_sighting(
            session,
            match=first,
            url="https://news.example/article.jpg",
            page_url=None,
            source="crawler",
            now=T0,
        )
        second = world.match(session, two, distance=5)
        by_hash = record_sighting(
            session, match=second, url=URL, page_url=None, source="crawler", now=T0
        )
        third = world.match(session, one)
        kept = record_sighting(
            session, match=third, url=URL, page_url=None, source="crawler", now=T0
        )
        ids = by_url.id, by_hash.id, kept.id
    with sessions() as session:
        rows = [session.get_one(Sighting, i) for i in ids]
        assert [r.suppressed_by for r in rows] == [None, None, None], "only the NGO's own"
        assert [n.sighting_id for n in _notices(session)] == [ids[2]]


def test_negative_entry_cancels_open_notices(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    with sessions.begin() as session:
        match = world.match(session, world.records[0])
        record_sighting(session, match=match, url=URL, page_url=None, source="crawler", now=T0)
    with sessions.begin() as session:
        entry = safety.add_negative(
            session,
            url=URL.split("#")[0],
            reason="the platform's own licensed photo",
            actor="key:plat",
            organisation_id=world.platform_id,
            now=T0,
        )
    with sessions() as session:
        [notice] = _notices(session)
        assert notice.status == "draft", "a platform's entry waits for an admin's review"
    with sessions.begin() as session:
        safety.verify_negative(session, entry.id, actor="key:admin", now=T0)
    with sessions() as session:
        [notice] = _notices(session)
        assert notice.status == "cancelled"
        assert "negative list" in (_last_reason(session, notice) or "")
        assert session.get_one(Sighting, notice.sighting_id).suppressed_by == entry.id


def _last_reason(session: Session, notice: Notice) -> str | None:
    return session.scalars(
        select(Transition.reason)
        .where(Transition.notice_id == notice.id)
        .order_by(Transition.id.desc())
    ).first()


def test_a_flood_quarantines_the_fingerprint_and_holds_its_notices(
    sessions: sessionmaker[Session],
) -> None:
    world = make_world(sessions)
    with sessions.begin() as session:
        safety.set_policy(
            session,
            world.ngo_id,
            auto_approve=False,
            auto_approve_pdq_max=10,
            flood_urls=5,
            flood_window_hours=1,
        )
    for i in range(7):
        with sessions.begin() as session:
            match = world.match(session, world.records[0])
            record_sighting(
                session,
                match=match,
                url=f"https://host{i}.example/x.jpg",
                page_url=None,
                source="crawler",
                now=T0 + dt.timedelta(minutes=i),
            )
    with sessions() as session:
        statuses = [n.status for n in _notices(session)]
        assert statuses == ["held"] * 7
        assert safety.active_quarantine(session, str(world.records[0].id)) is not None
    with sessions.begin() as session:
        safety.release(
            session,
            str(world.records[0].id),
            actor="key:reviewer",
            now=T0 + dt.timedelta(minutes=10),
        )
    with sessions() as session:
        assert [n.status for n in _notices(session)] == ["draft"] * 7
    with sessions.begin() as session:
        match = world.match(session, world.records[0])
        record_sighting(
            session,
            match=match,
            url="https://late.example/x.jpg",
            page_url=None,
            source="crawler",
            now=T0 + dt.timedelta(minutes=30),
        )
    with sessions() as session:
        assert _notices(session)[-1].status == "draft"


def test_spread_out_sightings_are_no_flood(sessions: sessionmaker[Session]) -> None:
    world = make_world(sessions)
    for i in range(25):
        with sessions.begin() as session:
            match = world.match(session, world.records[0])
            record_sighting(
                session,
                match=match,
                url=f"https://host{i}.example/x.jpg",
                page_url=None,
                source="crawler",
                now=T0 + dt.timedelta(hours=2 * i),
            )
    with sessions() as session:
        assert {n.status for n in _notices(session)} == {NoticeStatus.DRAFT.value}
