"""List an NGO's cases for the console: searchable, paginated, with counts per row.

Each row carries the counts a case worker triages by: fingerprints, sightings,
open notices, removals, and when the oldest URL still online was first seen.
Counts are read for the page's cases only, in four grouped queries, so a page
costs the same with ten cases or ten thousand.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from empreinte.store import models as m
from empreinte.store.models.notices import Notice, NoticeStatus, Sighting

OFFLINE: Final = (NoticeStatus.REMOVED.value, NoticeStatus.CANCELLED.value)
"""A sighting whose notice is in one of these is no longer (or never to be) chased."""


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_id: str
    case_number: str
    status: str
    created_at: dt.datetime
    fingerprints: int
    sightings: int
    open_notices: int
    removals: int
    oldest_online: dt.datetime | None


def case_page(
    session: Session,
    organisation_id: int,
    *,
    search: str = "",
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CaseRow], int]:
    """Return a page of the NGO's cases, newest first, matching ``search`` and ``status``."""
    where: list[Any] = [m.Case.organisation_id == organisation_id]
    if search.strip():
        where.append(m.Case.case_number.contains(search.strip().upper(), autoescape=True))
    if status:
        where.append(m.Case.status == status)
    total = session.scalar(select(func.count()).select_from(m.Case).where(*where)) or 0
    cases = list(
        session.scalars(
            select(m.Case)
            .where(*where)
            .order_by(m.Case.created_at.desc(), m.Case.id)
            .limit(limit)
            .offset(offset)
        )
    )
    counts = _counts(session, organisation_id, [c.id for c in cases])
    rows = [
        CaseRow(
            case_id=c.id,
            case_number=c.case_number,
            status=c.status,
            created_at=c.created_at,
            fingerprints=counts["fingerprints"].get(c.id, 0),
            sightings=counts["sightings"].get(c.id, 0),
            open_notices=counts["open"].get(c.id, 0),
            removals=counts["removed"].get(c.id, 0),
            oldest_online=counts["oldest"].get(c.id),
        )
        for c in cases
    ]
    return rows, int(total)


def _counts(session: Session, organisation_id: int, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Count per case; notices are found by fingerprint only, then kept if the NGO's.

    Filtering on the notifier in SQL would let SQLite's planner walk the
    organisation index (every notice of the NGO) instead of the page's
    fingerprints; the rows read here are only the page's.
    """
    cf = m.CaseFingerprint
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    if not ids:
        return found
    links = session.execute(select(cf.case_id, cf.fingerprint_id).where(cf.case_id.in_(ids))).all()
    cases_of: dict[str, list[str]] = defaultdict(list)
    for case_id, fingerprint_id in links:
        cases_of[fingerprint_id].append(case_id)
        found["fingerprints"][case_id] = found["fingerprints"].get(case_id, 0) + 1
    fingerprints = list(cases_of)
    for fingerprint_id, n in session.execute(
        select(Sighting.fingerprint_id, func.count())
        .where(Sighting.fingerprint_id.in_(fingerprints))
        .group_by(Sighting.fingerprint_id)
    ):
        for case_id in cases_of[fingerprint_id]:
            found["sightings"][case_id] = found["sightings"].get(case_id, 0) + int(n)
    online: dict[str, list[str]] = defaultdict(list)
    for fingerprint_id, status, org, sighting_id in session.execute(
        select(
            Notice.fingerprint_id, Notice.status, Notice.organisation_id, Notice.sighting_id
        ).where(Notice.fingerprint_id.in_(fingerprints))
    ):
        if org != organisation_id:
            continue
        kind = "removed" if status == NoticeStatus.REMOVED.value else None
        kind = kind or ("open" if status not in OFFLINE else None)
        for case_id in cases_of[fingerprint_id]:
            if kind:
                found[kind][case_id] = found[kind].get(case_id, 0) + 1
            if kind == "open":
                online[sighting_id].append(case_id)
    if online:
        for sighting_id, first in session.execute(
            select(Sighting.id, Sighting.first_seen).where(Sighting.id.in_(list(online)))
        ):
            for case_id in online[sighting_id]:
                known = found["oldest"].get(case_id)
                found["oldest"][case_id] = first if known is None else min(known, first)
    return found
