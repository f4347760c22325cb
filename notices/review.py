"""Decide on notices: approve, reject, reopen, re-send, and take platforms' answers.

These are the notices room's services, plain functions over the caller's
session and transaction, shared by the API, :mod:`service` and the worker.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from empreinte.notices import consent, content, lifecycle, outbox, safety
from empreinte.notices.errors import InvalidTransition
from empreinte.store import models as m
from empreinte.store.models.notices import Contact, Delivery, Notice, NoticeStatus, Sighting
from empreinte.store.registry import Conflict, NotFound

VERIFY_AFTER: Final = dt.timedelta(hours=1)
"""When a platform reports a removal, the URL is checked once this much later."""

ANSWERS: Final = (NoticeStatus.ACKNOWLEDGED, NoticeStatus.REMOVED, NoticeStatus.REFUSED)


def approve(session: Session, notice: Notice, *, actor: str, now: dt.datetime) -> None:
    """Approve a draft or held notice: freeze its content and queue its deliveries."""
    if notice.status not in (NoticeStatus.DRAFT.value, NoticeStatus.HELD.value):
        raise InvalidTransition(
            f"notice {notice.reference} is {notice.status}: only a draft or held notice is approved"
        )
    if not consent.given(session, notice.organisation_id, notice.fingerprint_id):
        raise Conflict("the case was withdrawn: this notice can no longer be sent")
    notifier = session.get_one(m.Organisation, notice.organisation_id)
    if not notifier.contact_email:
        raise Conflict("the notifier needs a contact email (DSA art. 16(2)(c)): set it first")
    sighting = session.get_one(Sighting, notice.sighting_id)
    notice.content = content.build(notice, sighting, notifier, now)
    lifecycle.move(session, notice, NoticeStatus.APPROVED, actor=actor, now=now)
    outbox.enqueue(session, notice, sighting, now)


def reject(session: Session, notice: Notice, *, actor: str, now: dt.datetime, reason: str) -> None:
    """Reject a notice before it goes out; it is cancelled with the reviewer's reason."""
    if notice.status not in (NoticeStatus.DRAFT.value, NoticeStatus.HELD.value):
        raise InvalidTransition(
            f"notice {notice.reference} is {notice.status}: only a draft or held notice is rejected"
        )
    lifecycle.move(session, notice, NoticeStatus.CANCELLED, actor=actor, now=now, reason=reason)


def reopen(session: Session, notice: Notice, *, actor: str, now: dt.datetime, reason: str) -> None:
    """Reopen a removed notice whose content is back, and send it again (or hold it)."""
    lifecycle.move(session, notice, NoticeStatus.REAPPEARED, actor=actor, now=now, reason=reason)
    notice.round += 1
    notice.next_check_at = None
    if safety.active_quarantine(session, notice.fingerprint_id) is not None:
        lifecycle.move(
            session,
            notice,
            NoticeStatus.HELD,
            actor="quarantine",
            now=now,
            reason="fingerprint quarantined",
        )
        return
    outbox.enqueue(session, notice, session.get_one(Sighting, notice.sighting_id), now)


def resend(session: Session, notice: Notice, *, now: dt.datetime, escalate_after: int) -> None:
    """Send the notice again in a new round; escalation contacts join after ``escalate_after``."""
    notice.round += 1
    escalate = notice.round >= escalate_after
    lifecycle.note(
        session, notice, actor="recheck", now=now, reason=f"re-sent, round {notice.round}"
    )
    if escalate and notice.escalated_at is None:
        notice.escalated_at = now
        lifecycle.note(
            session,
            notice,
            actor="recheck",
            now=now,
            reason=f"escalated: still online after {notice.round} re-sends",
        )
    outbox.enqueue(
        session, notice, session.get_one(Sighting, notice.sighting_id), now, escalate=escalate
    )


def acknowledge(
    session: Session,
    reference: str,
    platform_id: int | None,
    answer: NoticeStatus,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
) -> Notice:
    """Take a platform's answer to a notice it received: acknowledged, removed or refused."""
    if answer not in ANSWERS:
        raise Conflict(f"a platform answers {', '.join(ANSWERS)}, not {answer}")
    notice = session.scalar(select(Notice).where(Notice.reference == reference))
    if notice is None or not _addressed_to(session, notice.id, platform_id):
        raise NotFound("no such notice for this platform")
    if notice.status == answer.value:
        return notice
    lifecycle.move(session, notice, answer, actor=actor, now=now, reason=reason)
    if answer is NoticeStatus.REMOVED:
        notice.next_check_at = now + VERIFY_AFTER
    return notice


def _addressed_to(session: Session, notice_id: str, platform_id: int | None) -> bool:
    if platform_id is None:
        return False
    found = session.scalar(
        select(Delivery.id)
        .join(Contact, Contact.id == Delivery.contact_id)
        .where(Delivery.notice_id == notice_id, Contact.organisation_id == platform_id)
        .limit(1)
    )
    return found is not None


def owned(session: Session, organisation_id: int | None, notice_id: str) -> Notice:
    """Return the notice if ``organisation_id`` is its notifier; otherwise it does not exist."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.organisation_id != organisation_id:
        raise NotFound("no such notice")
    return notice


def list_notices(
    session: Session,
    organisation_id: int | None,
    status: NoticeStatus | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[tuple[Notice, Sighting]], int]:
    """Return a page of the NGO's notices with their sightings, newest first, and the total."""
    where = [Notice.organisation_id == organisation_id]
    if status is not None:
        where.append(Notice.status == status.value)
    total = session.scalar(select(func.count()).select_from(Notice).where(*where)) or 0
    rows = session.execute(
        select(Notice, Sighting)
        .join(Sighting, Sighting.id == Notice.sighting_id)
        .where(*where)
        .order_by(Notice.created_at.desc(), Notice.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [(notice, sighting) for notice, sighting in rows], int(total)
