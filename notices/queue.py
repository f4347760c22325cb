"""Serve the review queue: sightings whose notice is a draft, oldest first, each to one reviewer.

The queue holds every draft notice of the NGO: the crawler's sightings, and
the platforms' when they came with a URL. Counting and ordering it reads only
the notices' narrow index (:mod:`indexes`), never the wide rows.

A reviewer takes the next item with :func:`take`; the item is leased to them
for :data:`LEASE` so no other reviewer gets it, and the lease ends when they
decide or when it runs out (a reviewer who walks away). Taking is one atomic
conditional upsert on ``review_leases`` (the row is written only if it is
absent or its lease is over), so two reviewers can never hold the same item.
On PostgreSQL, the oldest free notice is read ``LIMIT 1 FOR UPDATE SKIP
LOCKED``, so parallel reviewers each lock a different row instead of queueing
on one; on SQLite every writing transaction is already serialised (``BEGIN
IMMEDIATE``), so the oldest free candidates are read at once.

The three decisions reuse the review services: confirm approves the notice;
a false match also puts the image's URL on the negative list so it does not
come back; "not intimate imagery" rejects with that reason.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from empreinte.notices import review, safety
from empreinte.store.models.console import ReviewLease
from empreinte.store.models.notices import Notice, NoticeStatus, Sighting
from empreinte.store.registry import NotFound, utc

LEASE: Final = dt.timedelta(minutes=10)
CANDIDATES: Final = 20


class Decision(enum.StrEnum):
    CONFIRM = "confirm"
    FALSE_MATCH = "false_match"
    NOT_INTIMATE = "not_intimate"


REASONS: Final = {
    Decision.FALSE_MATCH: "false match: the found image is not the registered one",
    Decision.NOT_INTIMATE: "not intimate imagery",
}


@dataclass(frozen=True, slots=True)
class Item:
    """A queued notice, its sighting, and the fingerprint's standing with platforms."""

    notice: Notice
    sighting: Sighting
    reliability: safety.Reliability
    lease_until: dt.datetime


def _queued(organisation_id: int) -> list[ColumnElement[bool]]:
    return [Notice.organisation_id == organisation_id, Notice.status == NoticeStatus.DRAFT.value]


def waiting(session: Session, organisation_id: int) -> int:
    """Count the organisation's queued items, leased or not."""
    query = select(func.count()).select_from(Notice).where(*_queued(organisation_id))
    return int(session.scalar(query) or 0)


def take(session: Session, organisation_id: int, user_id: int, now: dt.datetime) -> Item | None:
    """Return the reviewer's current item, or lease them the oldest free one; None if empty."""
    held = _held(session, organisation_id, user_id, now)
    if held is not None:
        return held
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(CANDIDATES if postgres else 1):
        for notice_id in _free(session, organisation_id, now, postgres):
            if _lease(session, notice_id, user_id, now):
                return _item(session, notice_id, now + LEASE)
    return None


def _free(session: Session, organisation_id: int, now: dt.datetime, postgres: bool) -> list[str]:
    """Return the oldest unleased items: one row locked with SKIP LOCKED on PostgreSQL."""
    free = or_(ReviewLease.notice_id.is_(None), ReviewLease.lease_until <= now)
    query = (
        select(Notice.id)
        .outerjoin(ReviewLease, ReviewLease.notice_id == Notice.id)
        .where(*_queued(organisation_id), free)
        .order_by(Notice.created_at, Notice.id)
    )
    if postgres:
        query = query.limit(1).with_for_update(of=Notice, skip_locked=True)
    else:
        query = query.limit(CANDIDATES)
    return list(session.scalars(query))


def _lease(session: Session, notice_id: str, user_id: int, now: dt.datetime) -> bool:
    """Write the lease unless another reviewer holds a live one; say whether it was written."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(ReviewLease)
        .values(notice_id=notice_id, user_id=user_id, lease_until=now + LEASE)
        .on_conflict_do_update(
            index_elements=[ReviewLease.notice_id],
            set_={"user_id": user_id, "lease_until": now + LEASE},
            where=or_(ReviewLease.lease_until <= now, ReviewLease.user_id == user_id),
        )
        .returning(ReviewLease.notice_id)
    )
    return session.execute(statement).scalar() is not None


def _held(session: Session, organisation_id: int, user_id: int, now: dt.datetime) -> Item | None:
    query = (
        select(ReviewLease)
        .join(Notice, Notice.id == ReviewLease.notice_id)
        .where(
            ReviewLease.user_id == user_id, ReviewLease.lease_until > now, *_queued(organisation_id)
        )
        .order_by(Notice.created_at)
        .limit(1)
    )
    lease = session.scalar(query)
    return None if lease is None else _item(session, lease.notice_id, utc(lease.lease_until))


def _item(session: Session, notice_id: str, until: dt.datetime) -> Item:
    notice = session.get_one(Notice, notice_id)
    sighting = session.get_one(Sighting, notice.sighting_id)
    trust = safety.reliability(session, notice.fingerprint_id)
    return Item(notice, sighting, trust, until)


def leased(
    session: Session, organisation_id: int, user_id: int, notice_id: str, now: dt.datetime
) -> Item:
    """Return the item if this reviewer holds its live lease; otherwise it is not theirs."""
    lease = session.get(ReviewLease, notice_id)
    notice = session.get(Notice, notice_id)
    if (
        lease is None
        or notice is None
        or lease.user_id != user_id
        or utc(lease.lease_until) <= now
        or notice.organisation_id != organisation_id
    ):
        raise NotFound("this item is not assigned to you (any more): take the next one")
    return _item(session, notice_id, utc(lease.lease_until))


def decide(
    session: Session, item: Item, decision: Decision, *, actor: str, now: dt.datetime
) -> None:
    """Apply the reviewer's decision on ``item`` and end its lease."""
    if decision is Decision.CONFIRM:
        review.approve(session, item.notice, actor=actor, now=now)
    else:
        review.reject(session, item.notice, actor=actor, now=now, reason=REASONS[decision])
    if decision is Decision.FALSE_MATCH:
        safety.add_negative(
            session,
            reason=REASONS[decision],
            actor=actor,
            organisation_id=item.notice.organisation_id,
            now=now,
            url=item.sighting.url,
        )
    release(session, item.notice.id)


def release(session: Session, notice_id: str) -> None:
    session.execute(delete(ReviewLease).where(ReviewLease.notice_id == notice_id))


def leases_of(session: Session, notice_ids: list[str]) -> dict[str, int]:
    """Return who holds each of these notices (any lease row), for tests and displays."""
    rows = session.execute(
        select(ReviewLease.notice_id, ReviewLease.user_id).where(
            ReviewLease.notice_id.in_(notice_ids)
        )
    ).all()
    return {notice_id: int(user_id) for notice_id, user_id in rows}
