"""Turn a match at a URL into a sighting and a draft notice: the one entry point.

The crawler records every match it finds at a URL with :func:`record_sighting`,
after :func:`empreinte.detection.service.match_image`, in the same transaction:
upsert the sighting, skip what the negative list holds back (a verified entry
for everyone, an NGO's own entry for that NGO), quarantine a flood, then create
(or reopen) a notice per NGO holding the fingerprint, approved at once only
when that NGO's policy allows.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from empreinte.detection.service import Match
from empreinte.net.urls import host_of, http_url
from empreinte.notices import consent, content, lifecycle, review, safety
from empreinte.store import models as m
from empreinte.store.models.notices import Notice, NoticePolicy, NoticeStatus, Quarantine, Sighting
from empreinte.store.registry import Conflict, utc


def record_sighting(
    session: Session,
    *,
    match: Match,
    url: str,
    page_url: str | None,
    source: str,
    box: tuple[int, int, int, int] | None = None,
    now: dt.datetime | None = None,
) -> Sighting:
    """Record that ``match`` was seen at ``url`` (on ``page_url``); return the sighting.

    ``box`` is the region of the fetched image where the registered image was
    found, as (x, y, width, height) in pixels; without it, the match's own box is
    kept. The match's event must be in the session already, as
    :func:`match_queries` and :func:`match_image` leave it.
    """
    now = utc(now or m.utcnow()).astimezone(dt.UTC)
    url = http_url(url)
    page_url = http_url(page_url) if page_url else None
    session.flush()
    sighting = _upsert(session, match, url, page_url, source, box, now)
    urls = [url, page_url]
    verified = safety.suppressing_entry(session, match.fingerprint_id, urls, None)
    if verified is not None:
        sighting.suppressed_by = verified.id
        return sighting
    organisations = [
        org
        for org in consent.notifiers(session, match.fingerprint_id)
        if safety.suppressing_entry(session, match.fingerprint_id, urls, org) is None
    ]
    rules = [safety.policy(session, org) for org in organisations]
    quarantine = safety.check_flood(session, match.fingerprint_id, rules, now) if rules else None
    for rule in rules:
        _notify(session, sighting, rule, quarantine, actor=source, now=now)
    return sighting


def _upsert(
    session: Session,
    match: Match,
    url: str,
    page_url: str | None,
    source: str,
    box: tuple[int, int, int, int] | None,
    now: dt.datetime,
) -> Sighting:
    found = _find(session, match.fingerprint_id, url)
    if found is None:
        row = Sighting(
            id=str(uuid.uuid4()),
            fingerprint_id=match.fingerprint_id,
            match_id=match.match_id,
            url=url,
            host=host_of(url),
            source=source[:16],
            first_seen=now,
            last_seen=now,
        )
        try:
            with session.begin_nested():
                _evidence(row, match, box)
                _page(row, page_url)
                session.add(row)
            return row
        except IntegrityError:
            found = _find(session, match.fingerprint_id, url)
            if found is None:
                raise
    found.last_seen = max(utc(found.last_seen), now)
    found.last_match_id = match.match_id
    if page_url and not found.page_url:
        _page(found, page_url)
    if match.confidence > found.confidence:
        _evidence(found, match, box)
    return found


def _find(session: Session, fingerprint_id: str, url: str) -> Sighting | None:
    return session.scalar(
        select(Sighting).where(Sighting.fingerprint_id == fingerprint_id, Sighting.url == url)
    )


def _page(row: Sighting, page_url: str | None) -> None:
    row.page_url = page_url
    row.page_host = host_of(page_url) if page_url else None


def _evidence(row: Sighting, match: Match, box: tuple[int, int, int, int] | None) -> None:
    row.last_match_id = match.match_id
    row.signal = match.signal
    row.distance = match.distance
    row.inliers = match.inliers
    row.confidence = match.confidence
    chosen = box or match.box
    row.box = list(chosen) if chosen else None


def _notify(
    session: Session,
    sighting: Sighting,
    rule: NoticePolicy,
    quarantine: Quarantine | None,
    *,
    actor: str,
    now: dt.datetime,
) -> None:
    notice = session.scalar(
        select(Notice).where(
            Notice.sighting_id == sighting.id, Notice.organisation_id == rule.organisation_id
        )
    )
    if notice is None:
        _create(session, sighting, rule, quarantine, actor=actor, now=now)
    elif notice.status == NoticeStatus.REMOVED.value:
        review.reopen(session, notice, actor=actor, now=now, reason="seen again at its URL")


def _create(
    session: Session,
    sighting: Sighting,
    rule: NoticePolicy,
    quarantine: Quarantine | None,
    *,
    actor: str,
    now: dt.datetime,
) -> Notice:
    notice = Notice(
        id=str(uuid.uuid4()),
        reference=content.new_reference(session, now),
        sighting_id=sighting.id,
        organisation_id=rule.organisation_id,
        fingerprint_id=sighting.fingerprint_id,
        status=NoticeStatus.DRAFT.value,
        category=content.CATEGORY,
        round=0,
        created_at=now,
        updated_at=now,
    )
    notifier = session.get_one(m.Organisation, rule.organisation_id)
    notice.content = content.build(notice, sighting, notifier, now)
    session.add(notice)
    session.flush()
    lifecycle.created(session, notice, actor=actor, now=now)
    if quarantine is not None:
        lifecycle.move(
            session,
            notice,
            NoticeStatus.HELD,
            actor="quarantine",
            now=now,
            reason=quarantine.reason,
        )
    elif safety.auto_approves(
        rule,
        sighting.signal,
        sighting.distance,
        safety.reliability(session, sighting.fingerprint_id),
    ):
        _auto_approve(session, notice, now)
    return notice


def _auto_approve(session: Session, notice: Notice, now: dt.datetime) -> None:
    try:
        with session.begin_nested():
            review.approve(session, notice, actor="policy:auto-approve", now=now)
    except Conflict as exc:
        lifecycle.note(
            session, notice, actor="policy:auto-approve", now=now, reason=f"left for review: {exc}"
        )
