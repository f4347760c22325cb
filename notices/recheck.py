"""Re-check sent notices: fetch the URL, match again, and act on what is found.

* gone (404 or 410) or no longer the registered image: the notice is ``removed``,
  and its time to removal is known;
* still there: the notice is sent again in a new round, with escalation
  contacts after a few rounds; a removed notice found again is ``reappeared``;
* no usable answer (timeout, 403, 5xx): nothing changes, try again next time.

Every check is stored in ``notice_checks``, for the evidence file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from empreinte.detection.budget import DecoderBusy
from empreinte.notices import lifecycle, review
from empreinte.notices.errors import FetchError
from empreinte.notices.fetch import Fetcher, Prepare, still_matches
from empreinte.store.models.notices import Notice, NoticeCheck, NoticeStatus, Sighting

CHECKED: Final = (
    NoticeStatus.SENT,
    NoticeStatus.ACKNOWLEDGED,
    NoticeStatus.REFUSED,
    NoticeStatus.REMOVED,
)
RESENT: Final = (NoticeStatus.SENT, NoticeStatus.ACKNOWLEDGED)
GONE_STATUSES: Final = frozenset({404, 410})


@dataclass(frozen=True, slots=True)
class Due:
    notice_id: str
    fingerprint_id: str
    url: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check found: ``present``, ``gone``, ``changed`` or ``error``."""

    kind: str
    http_status: int | None = None
    detail: str | None = None


def claim(session: Session, now: dt.datetime, *, lease: dt.timedelta, limit: int) -> list[Due]:
    """Take up to ``limit`` notices due for a check, pushing their next check past ``lease``."""
    notices = session.scalars(
        select(Notice)
        .where(
            Notice.status.in_([s.value for s in CHECKED]),
            Notice.next_check_at.is_not(None),
            Notice.next_check_at <= now,
        )
        .order_by(Notice.next_check_at, Notice.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    due = []
    for notice in notices:
        notice.next_check_at = now + lease
        sighting = session.get_one(Sighting, notice.sighting_id)
        due.append(Due(notice.id, notice.fingerprint_id, sighting.url))
    return due


def look(fetcher: Fetcher, url: str) -> tuple[Outcome, bytes | None]:
    """Fetch ``url``; return the outcome, and the body when it still has to be matched."""
    try:
        result = fetcher.fetch(url)
    except FetchError as exc:
        return Outcome("error", None, str(exc)[:500]), None
    if result.status in GONE_STATUSES:
        return Outcome("gone", result.status, f"the URL answers {result.status}"), None
    if not 200 <= result.status < 300:
        return Outcome("error", result.status, f"the URL answers {result.status}"), None
    return Outcome("present", result.status), result.body


def judge(
    session: Session, item: Due, outcome: Outcome, body: bytes | None, prepare: Prepare
) -> Outcome:
    """Match a fetched body against the fingerprint; a body that no longer matches is gone."""
    if outcome.kind != "present" or body is None:
        return outcome
    try:
        if still_matches(session, item.fingerprint_id, body, prepare):
            return outcome
    except DecoderBusy:
        return Outcome("error", outcome.http_status, "no room to decode it now: checked later")
    return Outcome("changed", outcome.http_status, "the content no longer matches")


def apply(
    session: Session,
    item: Due,
    outcome: Outcome,
    now: dt.datetime,
    *,
    every: dt.timedelta,
    escalate_after: int,
) -> None:
    """Store the check and move the notice accordingly."""
    notice = session.get_one(Notice, item.notice_id, with_for_update=True)
    session.add(
        NoticeCheck(
            notice_id=notice.id,
            at=now,
            outcome=outcome.kind,
            http_status=outcome.http_status,
            detail=outcome.detail,
        )
    )
    status = NoticeStatus(notice.status)
    notice.next_check_at = now + every
    if status not in CHECKED:
        notice.next_check_at = None
    elif outcome.kind in ("gone", "changed"):
        notice.next_check_at = None
        if status is not NoticeStatus.REMOVED:
            lifecycle.move(
                session,
                notice,
                NoticeStatus.REMOVED,
                actor="recheck",
                now=now,
                reason=outcome.detail,
            )
    elif outcome.kind == "present" and status is NoticeStatus.REMOVED:
        review.reopen(session, notice, actor="recheck", now=now, reason="the content is back")
    elif outcome.kind == "present" and status in RESENT:
        review.resend(session, notice, now=now, escalate_after=escalate_after)
