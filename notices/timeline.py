"""Tell a case's story for the console: opened, fingerprints, matches, notices, withdrawal.

Events come from the tables that already record them (the case, its
fingerprint links, match events, notice transitions and deliveries); nothing
is stored twice. Only the notices of the case's own NGO appear.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.store import models as m
from empreinte.store.models.notices import Contact, Delivery, Notice, Sighting, Transition
from empreinte.store.registry import utc

LIMIT: Final = 300
_MERGE: Final = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline: when, what kind, and the values its sentence needs."""

    at: dt.datetime
    kind: str
    values: dict[str, object] = field(default_factory=dict)


def timeline(session: Session, case: m.Case, *, limit: int = LIMIT) -> list[Event]:
    """Return the case's events, newest first, at most ``limit``."""
    events = [Event(utc(case.created_at), "opened")]
    events += _fingerprints(session, case.id)
    events += _matches(session, case.id, limit)
    events += _notices(session, case, limit)
    if case.withdrawn_at is not None:
        events.append(Event(utc(case.withdrawn_at), "withdrawn"))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


def _fingerprints(session: Session, case_id: str) -> list[Event]:
    times = session.scalars(
        select(m.CaseFingerprint.added_at)
        .where(m.CaseFingerprint.case_id == case_id)
        .order_by(m.CaseFingerprint.added_at)
        .limit(10_000)
    )
    groups: list[tuple[dt.datetime, int]] = []
    for at in map(utc, times):
        if groups and at - groups[-1][0] < _MERGE:
            groups[-1] = (groups[-1][0], groups[-1][1] + 1)
        else:
            groups.append((at, 1))
    return [Event(at, "fingerprints", {"count": n}) for at, n in groups]


def _matches(session: Session, case_id: str, limit: int) -> list[Event]:
    rows = session.scalars(
        select(m.MatchEvent)
        .join(m.CaseFingerprint, m.CaseFingerprint.fingerprint_id == m.MatchEvent.fingerprint_id)
        .where(m.CaseFingerprint.case_id == case_id)
        .order_by(m.MatchEvent.created_at.desc())
        .limit(limit)
    )
    return [
        Event(
            utc(e.created_at),
            "match",
            {"source": e.source, "signal": e.signal, "distance": e.distance},
        )
        for e in rows
    ]


def _notices(session: Session, case: m.Case, limit: int) -> list[Event]:
    """Events of the case's notices sent by its own NGO.

    The notices are found by fingerprint, then kept if the case's NGO sent them
    (in Python: a notifier filter in SQL would walk every notice of the NGO).
    """
    found = session.execute(
        select(Notice.id, Notice.organisation_id)
        .join(m.CaseFingerprint, m.CaseFingerprint.fingerprint_id == Notice.fingerprint_id)
        .where(m.CaseFingerprint.case_id == case.id)
    ).all()
    mine = [notice_id for notice_id, org in found if org == case.organisation_id]
    if not mine:
        return []
    moves = session.execute(
        select(Transition, Notice.reference, Sighting.host)
        .join(Notice, Notice.id == Transition.notice_id)
        .join(Sighting, Sighting.id == Notice.sighting_id)
        .where(Transition.notice_id.in_(mine))
        .order_by(Transition.at.desc())
        .limit(limit)
    ).all()
    events = [
        Event(
            utc(t.at),
            "notice." + t.to_status if t.from_status != t.to_status else "notice.note",
            {"reference": ref, "host": host, "reason": t.reason or "", "notice_id": t.notice_id},
        )
        for t, ref, host in moves
    ]
    sent = session.execute(
        select(Delivery, Contact.domain, Notice.reference)
        .join(Contact, Contact.id == Delivery.contact_id)
        .join(Notice, Notice.id == Delivery.notice_id)
        .where(Delivery.notice_id.in_(mine), Delivery.sent_at.is_not(None))
        .order_by(Delivery.sent_at.desc())
        .limit(limit)
    ).all()
    events += [
        Event(
            utc(d.sent_at),
            "delivery",
            {"channel": d.channel, "to": domain, "reference": ref, "round": d.round},
        )
        for d, domain, ref in sent
        if d.sent_at is not None
    ]
    return events
