"""Check that an NGO may still act: it holds the fingerprint in an active case.

A victim who withdraws takes back the NGO's mandate at once. Every notice of a
withdrawn case is cancelled, whatever its status, before anything more is sent:
the outbox checks again when it claims each delivery, and the worker sweeps.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from empreinte.notices import lifecycle
from empreinte.store import models as m
from empreinte.store.models.notices import Notice, NoticeStatus


def notifiers(session: Session, fingerprint_id: str) -> list[int]:
    """Return the NGOs holding the fingerprint in an active case, oldest case first."""
    rows = session.execute(
        select(m.Case.organisation_id)
        .join(m.CaseFingerprint, m.CaseFingerprint.case_id == m.Case.id)
        .where(
            m.CaseFingerprint.fingerprint_id == fingerprint_id,
            m.Case.status == m.CaseStatus.ACTIVE.value,
        )
        .order_by(m.Case.created_at, m.Case.id)
    ).all()
    return list(dict.fromkeys(int(org) for (org,) in rows))


def given(session: Session, organisation_id: int, fingerprint_id: str) -> bool:
    """Say whether the NGO still holds the fingerprint in an active case."""
    found = session.scalar(
        select(m.Case.id)
        .join(m.CaseFingerprint, m.CaseFingerprint.case_id == m.Case.id)
        .where(
            m.CaseFingerprint.fingerprint_id == fingerprint_id,
            m.Case.organisation_id == organisation_id,
            m.Case.status == m.CaseStatus.ACTIVE.value,
        )
        .limit(1)
    )
    return found is not None


def sweep(session: Session, now: dt.datetime) -> int:
    """Cancel every open notice whose NGO no longer holds an active case; return how many."""
    mandate = exists().where(
        m.CaseFingerprint.fingerprint_id == Notice.fingerprint_id,
        m.Case.id == m.CaseFingerprint.case_id,
        m.Case.organisation_id == Notice.organisation_id,
        m.Case.status == m.CaseStatus.ACTIVE.value,
    )
    orphans = session.scalars(
        select(Notice).where(Notice.status.in_([s.value for s in lifecycle.OPEN]), ~mandate)
    ).all()
    for notice in orphans:
        lifecycle.move(
            session,
            notice,
            NoticeStatus.CANCELLED,
            actor="consent",
            now=now,
            reason="the case was withdrawn: consent to act is gone",
        )
    return len(orphans)


def holds(session: Session, organisation_id: int | None, fingerprint_id: str) -> bool:
    """Say whether the NGO holds the fingerprint in any of its cases, active or not."""
    found = session.scalar(
        select(m.Case.id)
        .join(m.CaseFingerprint, m.CaseFingerprint.case_id == m.Case.id)
        .where(
            m.CaseFingerprint.fingerprint_id == fingerprint_id,
            m.Case.organisation_id == organisation_id,
        )
        .limit(1)
    )
    return found is not None
