"""Guard against false positives: policies, the negative list, flood quarantine, reliability.

A wrong notice harms a platform's user and the NGO's standing as a trusted
flagger, so every automatic step is narrow:

* auto-approval only for near-exact matches (an NGO's choice), never for a
  fingerprint that a platform has reported as ``not_blocked``;
* a fingerprint that suddenly matches many URLs (a generic picture, a collision)
  is quarantined, and its unsent notices are held for a human;
* URLs and hash values on the negative list are never notified. A hash entry
  suppresses a fingerprint only when one of its values is *near-exact* to the
  entry (PDQ within 10 bits, digests equal): a platform's benign picture that
  merely resembles a registered one is reported through ``not_blocked`` feedback
  instead, which lowers the fingerprint's reliability shown to reviewers.
  Entries have owners: an NGO's entry holds back only that NGO's notices; an
  entry holds back everyone's only once an admin has verified it (the
  operator's own entries are verified at once, a platform's wait for review).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from empreinte.hashing.signals import SignalType, hamming
from empreinte.notices import lifecycle
from empreinte.store import models as m
from empreinte.store.models.notices import (
    NegativeEntry,
    Notice,
    NoticePolicy,
    NoticeStatus,
    Quarantine,
    Sighting,
)
from empreinte.store.registry import Conflict, NotFound

_HOLDABLE: Final = (NoticeStatus.DRAFT, NoticeStatus.APPROVED, NoticeStatus.REAPPEARED)


@dataclass(frozen=True, slots=True)
class Reliability:
    """What platforms said of a fingerprint's matches; ``score`` is (blocked+1)/(answered+2)."""

    blocked: int
    not_blocked: int
    pending_review: int

    @property
    def score(self) -> float:
        return round((self.blocked + 1) / (self.blocked + self.not_blocked + 2), 3)


def policy(session: Session, organisation_id: int) -> NoticePolicy:
    """Return the NGO's policy, or the default one (review everything) if it set none."""
    found = session.get(NoticePolicy, organisation_id)
    if found is not None:
        return found
    return NoticePolicy(
        organisation_id=organisation_id,
        auto_approve=False,
        auto_approve_pdq_max=SignalType.PDQ.spec.near_exact,
        flood_urls=20,
        flood_window_hours=24,
    )


def auto_approves(
    rule: NoticePolicy, signal: str, distance: int | None, trust: Reliability
) -> bool:
    """Say whether ``rule`` approves a match without review: near-exact and never disputed.

    Only a PDQ (of the image or of a region of it) within the policy's radius, or
    an equal SHA-256 or MD5 digest, qualifies; local-feature matches always go to
    a reviewer.
    """
    kind = SignalType(signal)
    if not rule.auto_approve or trust.not_blocked or not kind.spec.auto_approve:
        return False
    if distance is None:
        return False
    cap = rule.auto_approve_pdq_max if kind is SignalType.PDQ else kind.spec.near_exact
    return distance <= cap


def reliability(session: Session, fingerprint_id: str) -> Reliability:
    """Count platforms' feedback on the fingerprint's matches: each platform's latest, once.

    A platform can make as many matches as it likes (it chooses what to query),
    so one platform's feedback counts as one voice, whatever the number of
    matches; only feedback on matches of the platform's own queries is taken
    (the route checks it), and events with no platform are ignored.
    """
    latest = (
        select(
            m.MatchEvent.organisation_id,
            func.max(m.MatchEvent.feedback_at).label("at"),
        )
        .where(
            m.MatchEvent.fingerprint_id == fingerprint_id,
            m.MatchEvent.source == "platform",
            m.MatchEvent.organisation_id.is_not(None),
            m.MatchEvent.feedback.is_not(None),
        )
        .group_by(m.MatchEvent.organisation_id)
        .subquery()
    )
    rows = session.execute(
        select(m.MatchEvent.organisation_id, m.MatchEvent.feedback)
        .join(
            latest,
            (latest.c.organisation_id == m.MatchEvent.organisation_id)
            & (latest.c.at == m.MatchEvent.feedback_at),
        )
        .where(m.MatchEvent.fingerprint_id == fingerprint_id, m.MatchEvent.feedback.is_not(None))
    ).all()
    answers = {org: str(feedback) for org, feedback in rows if org is not None}
    counts = Counter(answers.values())
    return Reliability(
        counts.get("blocked", 0), counts.get("not_blocked", 0), counts.get("pending_review", 0)
    )


def suppressing_entry(
    session: Session, fingerprint_id: str, urls: Iterable[str | None], notifier: int | None
) -> NegativeEntry | None:
    """Return the entry that holds back ``notifier``'s notice for these URLs, if any.

    Verified entries hold back everyone's notices, the others only their owner's;
    ``notifier=None`` asks for verified entries only.
    """
    wanted = [u for u in urls if u]
    scope = _in_force(notifier)
    by_url = session.scalar(
        select(NegativeEntry).where(NegativeEntry.url.in_(wanted), scope).order_by(NegativeEntry.id)
    )
    if by_url is not None:
        return by_url
    values = [
        (signal, value)
        for signal, value in session.execute(
            select(m.Hash.signal, m.Hash.value)
            .join(m.FingerprintHash, m.FingerprintHash.hash_id == m.Hash.id)
            .where(m.FingerprintHash.fingerprint_id == fingerprint_id)
        ).all()
        if value is not None
    ]
    signals = {signal for signal, _ in values}
    entries = session.scalars(
        select(NegativeEntry)
        .where(NegativeEntry.signal.in_(signals), scope)
        .order_by(NegativeEntry.id)
    )
    for entry in entries:
        if entry.signal and entry.value and _near(entry.signal, entry.value, values):
            return entry
    return None


def _in_force(notifier: int | None) -> ColumnElement[bool]:
    verified = NegativeEntry.verified_at.is_not(None)
    if notifier is None:
        return verified
    return or_(verified, NegativeEntry.organisation_id == notifier)


def _near(signal: str, value: bytes, values: Iterable[tuple[str, bytes]]) -> bool:
    radius = SignalType(signal).spec.near_exact
    return any(
        s == signal and len(v) == len(value) and hamming(v, value) <= radius for s, v in values
    )


def add_negative(
    session: Session,
    *,
    reason: str,
    actor: str,
    organisation_id: int | None,
    now: dt.datetime,
    verified: bool = False,
    url: str | None = None,
    signal: SignalType | None = None,
    value: bytes | None = None,
) -> NegativeEntry:
    """Mark a URL or a hash value benign, and cancel the open notices it now holds back.

    ``verified`` (the operator's own entries) makes it hold back everyone's notices
    at once; otherwise only ``organisation_id``'s, until an admin verifies it.
    """
    if (url is None) == (value is None) or (value is not None and signal is None):
        raise Conflict("give either a URL, or a signal and a hash value")
    entry = NegativeEntry(
        url=url,
        signal=signal.value if signal else None,
        value=value,
        reason=reason,
        organisation_id=organisation_id,
        actor=actor,
        created_at=now,
        verified_at=now if verified else None,
        verified_by=actor[:64] if verified else None,
    )
    session.add(entry)
    session.flush()
    _cancel_covered(session, entry, now)
    return entry


def verify_negative(
    session: Session, entry_id: int, *, actor: str, now: dt.datetime
) -> NegativeEntry:
    """Let an entry hold back every organisation's notices: an admin's decision."""
    entry = session.get(NegativeEntry, entry_id)
    if entry is None:
        raise NotFound("no such negative-list entry")
    if entry.verified_at is None:
        entry.verified_at = now
        entry.verified_by = actor[:64]
        session.flush()
        _cancel_covered(session, entry, now)
    return entry


def delete_negative(session: Session, entry_id: int, organisation_id: int | None) -> None:
    """Delete an entry; an organisation deletes its own, an admin (``None``) any."""
    entry = session.get(NegativeEntry, entry_id)
    if entry is None or (organisation_id is not None and entry.organisation_id != organisation_id):
        raise NotFound("no such negative-list entry")
    session.execute(
        update(Sighting).where(Sighting.suppressed_by == entry.id).values(suppressed_by=None)
    )
    session.delete(entry)


def list_negative(
    session: Session, organisation_id: int | None, *, limit: int, offset: int
) -> list[NegativeEntry]:
    """Return ``organisation_id``'s entries (``None``: every entry, for admins), newest first."""
    query = select(NegativeEntry)
    if organisation_id is not None:
        query = query.where(NegativeEntry.organisation_id == organisation_id)
    query = query.order_by(NegativeEntry.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def _cancel_covered(session: Session, entry: NegativeEntry, now: dt.datetime) -> None:
    """Cancel the open notices that ``entry`` holds back (its owner's, or all once verified)."""
    query = (
        select(Notice, Sighting)
        .join(Sighting, Sighting.id == Notice.sighting_id)
        .where(Notice.status.in_([s.value for s in lifecycle.OPEN]))
    )
    if entry.verified_at is None:
        if entry.organisation_id is None:
            return
        query = query.where(Notice.organisation_id == entry.organisation_id)
    if entry.url is not None:
        query = query.where(or_(Sighting.url == entry.url, Sighting.page_url == entry.url))
    for notice, sighting in session.execute(query).all():
        found = suppressing_entry(
            session,
            sighting.fingerprint_id,
            [sighting.url, sighting.page_url],
            notice.organisation_id,
        )
        if found is None:
            continue
        if entry.verified_at is not None:
            sighting.suppressed_by = sighting.suppressed_by or entry.id
        lifecycle.move(
            session,
            notice,
            NoticeStatus.CANCELLED,
            actor=entry.actor,
            now=now,
            reason=f"negative list: {entry.reason}",
        )


def active_quarantine(session: Session, fingerprint_id: str) -> Quarantine | None:
    return session.scalar(
        select(Quarantine).where(
            Quarantine.fingerprint_id == fingerprint_id, Quarantine.released_at.is_(None)
        )
    )


def check_flood(
    session: Session, fingerprint_id: str, rules: Iterable[NoticePolicy], now: dt.datetime
) -> Quarantine | None:
    """Quarantine the fingerprint if it matched more URLs in the window than a policy allows."""
    current = active_quarantine(session, fingerprint_id)
    if current is not None:
        return current
    limits = [(r.flood_urls, r.flood_window_hours) for r in rules] or [(20, 24)]
    urls, hours = min(limits)
    since = now - dt.timedelta(hours=hours)
    released = session.scalar(
        select(func.max(Quarantine.released_at)).where(Quarantine.fingerprint_id == fingerprint_id)
    )
    conditions = [Sighting.first_seen >= since]
    if released is not None:
        conditions.append(Sighting.first_seen > released)
    seen = session.scalar(
        select(func.count())
        .select_from(Sighting)
        .where(Sighting.fingerprint_id == fingerprint_id, *conditions)
    )
    if int(seen or 0) <= urls:
        return None
    quarantine = Quarantine(
        fingerprint_id=fingerprint_id,
        started_at=now,
        reason=f"matched {seen} URLs within {hours} h (more than {urls})",
    )
    session.add(quarantine)
    hold(session, fingerprint_id, now, quarantine.reason)
    return quarantine


def hold(session: Session, fingerprint_id: str, now: dt.datetime, reason: str) -> None:
    """Hold the fingerprint's unsent notices for review."""
    notices = session.scalars(
        select(Notice).where(
            Notice.fingerprint_id == fingerprint_id,
            Notice.status.in_([s.value for s in _HOLDABLE]),
        )
    )
    for notice in notices:
        lifecycle.move(
            session,
            notice,
            NoticeStatus.HELD,
            actor="quarantine",
            now=now,
            reason=f"quarantine: {reason}",
        )


def release(session: Session, fingerprint_id: str, *, actor: str, now: dt.datetime) -> Quarantine:
    """End the fingerprint's quarantine; its held notices go back to draft for review."""
    quarantine = active_quarantine(session, fingerprint_id)
    if quarantine is None:
        raise NotFound("this fingerprint is not quarantined")
    quarantine.released_at = now
    quarantine.released_by = actor
    for notice in session.scalars(
        select(Notice).where(
            Notice.fingerprint_id == fingerprint_id, Notice.status == NoticeStatus.HELD.value
        )
    ):
        lifecycle.move(
            session, notice, NoticeStatus.DRAFT, actor=actor, now=now, reason="quarantine released"
        )
    return quarantine


def set_policy(
    session: Session,
    organisation_id: int,
    *,
    auto_approve: bool,
    auto_approve_pdq_max: int,
    flood_urls: int,
    flood_window_hours: int,
) -> NoticePolicy:
    """Store the NGO's policy; auto-approval can never go past the near-exact PDQ radius."""
    if auto_approve_pdq_max > SignalType.PDQ.spec.near_exact:
        raise Conflict(
            f"auto-approval is for near-exact matches: PDQ at most {SignalType.PDQ.spec.near_exact}"
        )
    rule = session.get(NoticePolicy, organisation_id)
    if rule is None:
        rule = NoticePolicy(organisation_id=organisation_id)
        session.add(rule)
    rule.auto_approve = auto_approve
    rule.auto_approve_pdq_max = auto_approve_pdq_max
    rule.flood_urls = flood_urls
    rule.flood_window_hours = flood_window_hours
    session.flush()
    return rule
