"""Keep the outbox: deliveries are written with the approval, then claimed, sent and recorded.

Why nothing is lost or sent twice when the process dies at any point:

1. Approving a notice and queuing its deliveries is one transaction.
2. The worker *claims* due deliveries in a transaction of its own: it takes a
   lease (``lease_until``) and counts the attempt. PostgreSQL workers skip rows
   another worker holds (``FOR UPDATE SKIP LOCKED``); SQLite writers queue.
3. It sends each one outside any transaction, then records the result at once.

A crash before step 3 leaves the row pending under a lease: once the lease
ends, another run sends it again *with the same idempotency key*, so the
recipient can drop the copy (at least once, plus a key to make it exactly once
for the recipient). A crash after step 3 leaves the row ``sent``, and a sent row
is never claimed again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from empreinte.notices import consent, contacts, lifecycle
from empreinte.notices.errors import DeliveryError, DeliveryRejected
from empreinte.store.models.notices import (
    Contact,
    Delivery,
    DeliveryStatus,
    Notice,
    NoticeStatus,
    Sighting,
)

MAX_BACKOFF: Final = dt.timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery the worker holds under a lease, with what it needs to send it."""

    delivery_id: int
    idempotency_key: str
    channel: str
    target: str
    secret: str | None
    language: str
    round: int
    content: dict[str, Any]


def idempotency_key(reference: str, round: int, contact_id: int, channel: str) -> str:
    """Return the key that names one message: same notice, round, contact and channel."""
    return f"{reference}.r{round}.c{contact_id}.{channel}"


def enqueue(
    session: Session,
    notice: Notice,
    sighting: Sighting,
    now: dt.datetime,
    *,
    escalate: bool = False,
) -> int:
    """Queue the notice's current round for every contact of its hosts; return how many."""
    queued = 0
    hosts = [sighting.host, sighting.page_host]
    for contact in contacts.recipients(session, hosts, notice.organisation_id, escalate=escalate):
        for channel, address in (("webhook", contact.webhook_url), ("email", contact.email)):
            if address and _queue(session, notice, contact, channel, now):
                queued += 1
    return queued


def _queue(
    session: Session, notice: Notice, contact: Contact, channel: str, now: dt.datetime
) -> bool:
    key = idempotency_key(notice.reference, notice.round, contact.id, channel)
    row = session.scalar(select(Delivery).where(Delivery.idempotency_key == key))
    if row is not None:
        if row.status != DeliveryStatus.CANCELLED.value:
            return False
        row.status = DeliveryStatus.PENDING.value
        row.next_attempt_at = now
        row.last_error = None
        return True
    session.add(
        Delivery(
            notice_id=notice.id,
            contact_id=contact.id,
            channel=channel,
            round=notice.round,
            idempotency_key=key,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True


def claim(session: Session, now: dt.datetime, *, lease: dt.timedelta, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries; cancel those whose notice may no longer go out."""
    rows = session.scalars(
        select(Delivery)
        .where(
            Delivery.status == DeliveryStatus.PENDING.value,
            Delivery.next_attempt_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
        )
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    claimed = []
    for row in rows:
        if row.status != DeliveryStatus.PENDING.value:
            continue
        item = _claim_one(session, row, now)
        if item is not None:
            row.lease_until = now + lease
            row.attempts += 1
            claimed.append(item)
    return claimed


def _claim_one(session: Session, row: Delivery, now: dt.datetime) -> Claimed | None:
    notice = session.get_one(Notice, row.notice_id)
    contact = session.get_one(Contact, row.contact_id)
    mandate = consent.given(session, notice.organisation_id, notice.fingerprint_id)
    if NoticeStatus(notice.status) in lifecycle.OPEN and not mandate:
        lifecycle.move(
            session,
            notice,
            NoticeStatus.CANCELLED,
            actor="outbox",
            now=now,
            reason="the case was withdrawn: consent to act is gone",
        )
    target = contact.webhook_url if row.channel == "webhook" else contact.email
    if NoticeStatus(notice.status) not in lifecycle.DELIVERABLE or not target:
        row.status = DeliveryStatus.CANCELLED.value
        row.last_error = row.last_error or f"not sent: notice is {notice.status}"
        return None
    return Claimed(
        delivery_id=row.id,
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        target=target,
        secret=contact.webhook_secret,
        language=contact.language,
        round=row.round,
        content=notice.content,
    )


def record_sent(
    session: Session, delivery_id: int, now: dt.datetime, *, recheck_after: dt.timedelta
) -> None:
    """Record that the recipient accepted the delivery; the first one marks the notice sent."""
    row = session.get_one(Delivery, delivery_id, with_for_update=True)
    if row.status == DeliveryStatus.SENT.value:
        return
    row.status = DeliveryStatus.SENT.value
    row.sent_at = now
    row.lease_until = None
    row.last_error = None
    notice = session.get_one(Notice, row.notice_id)
    if notice.status in (NoticeStatus.APPROVED.value, NoticeStatus.REAPPEARED.value):
        lifecycle.move(session, notice, NoticeStatus.SENT, actor="outbox", now=now)
        notice.next_check_at = now + recheck_after


def record_failure(
    session: Session,
    delivery_id: int,
    error: DeliveryError,
    now: dt.datetime,
    *,
    max_attempts: int,
    backoff: dt.timedelta,
) -> None:
    """Record a failed attempt: retry later with exponential backoff, or give up."""
    row = session.get_one(Delivery, delivery_id, with_for_update=True)
    if row.status != DeliveryStatus.PENDING.value:
        return
    row.lease_until = None
    row.last_error = error.reason[:500]
    if isinstance(error, DeliveryRejected) or row.attempts >= max_attempts:
        row.status = DeliveryStatus.FAILED.value
        return
    row.next_attempt_at = now + min(backoff * 2 ** (row.attempts - 1), MAX_BACKOFF)
