"""Count an NGO's notices for the console's charts: hosts, outcomes, removal times, weeks.

Only domains, statuses, durations and signals are counted: no URL, case or person.
Notice rows are wide (their document is JSON), so the counts read the narrow
index of :mod:`indexes` instead of the rows themselves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from empreinte.store.models.notices import Notice, Sighting
from empreinte.store.registry import utc

REMOVAL_BINS: Final = ((1, "< 1 h"), (6, "1–6 h"), (24, "6–24 h"), (72, "1–3 d"), (168, "3–7 d"))
"""Upper bounds in hours of the time-to-removal histogram; the last bin is open."""
WEEKS: Final = 12


@dataclass(frozen=True, slots=True)
class Statistics:
    by_host: list[tuple[str, int]]
    by_outcome: list[tuple[str, int]]
    removal: list[tuple[str, int]]
    weeks: list[dt.date]
    per_week: dict[str, list[int]]


def statistics(session: Session, organisation_id: int, now: dt.datetime) -> Statistics:
    """Return the NGO's counts for the four charts of the statistics page."""
    mine = Notice.organisation_id == organisation_id
    hosts = session.execute(
        select(Sighting.host, func.count())
        .join(Notice, Notice.sighting_id == Sighting.id)
        .where(mine)
        .group_by(Sighting.host)
        .order_by(func.count().desc(), Sighting.host)
        .limit(10)
    ).all()
    outcomes = session.execute(
        select(Notice.status, func.count()).where(mine).group_by(Notice.status)
    ).all()
    return Statistics(
        by_host=[(str(h), int(n)) for h, n in hosts],
        by_outcome=sorted(((str(s), int(n)) for s, n in outcomes), key=lambda r: -r[1]),
        removal=_removal(session, organisation_id),
        weeks=_week_starts(now),
        per_week=_per_week(session, organisation_id, now),
    )


def _removal(session: Session, organisation_id: int) -> list[tuple[str, int]]:
    hours = (func.julianday(Notice.removed_at) - func.julianday(Notice.sent_at)) * 24
    if session.get_bind().dialect.name == "postgresql":
        hours = func.extract("epoch", Notice.removed_at - Notice.sent_at) / 3600
    bounds = [b for b, _ in REMOVAL_BINS]
    bucket = case(*((hours < b, i) for i, b in enumerate(bounds)), else_=len(bounds))
    rows: dict[Any, Any] = dict(
        session.execute(
            select(bucket, func.count())
            .where(
                Notice.organisation_id == organisation_id,
                Notice.sent_at.is_not(None),
                Notice.removed_at.is_not(None),
            )
            .group_by(bucket)
        ).all()
    )
    labels = [label for _, label in REMOVAL_BINS] + ["> 7 d"]
    return [(label, int(rows.get(i, 0))) for i, label in enumerate(labels)]


def _week_starts(now: dt.datetime) -> list[dt.date]:
    monday = utc(now).date() - dt.timedelta(days=utc(now).weekday())
    return [monday - dt.timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]


def _per_week(session: Session, organisation_id: int, now: dt.datetime) -> dict[str, list[int]]:
    starts = [dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC) for d in reversed(_week_starts(now))]
    bucket = case(
        *((Sighting.first_seen >= s, WEEKS - 1 - i) for i, s in enumerate(starts)), else_=-1
    )
    rows = session.execute(
        select(bucket, Sighting.signal, func.count())
        .join(Notice, Notice.sighting_id == Sighting.id)
        .where(Notice.organisation_id == organisation_id, Sighting.first_seen >= starts[-1])
        .group_by(bucket, Sighting.signal)
    ).all()
    found: dict[str, list[int]] = {}
    for week, signal, n in rows:
        if 0 <= int(week) < WEEKS:
            found.setdefault(str(signal), [0] * WEEKS)[int(week)] += int(n)
    return dict(sorted(found.items()))
