"""Count a year of notices for the DSA art. 22(3) report: by host, content type and action.

A notice counts in the year it was first sent. Its action is what the provider
did: ``removed``, ``refused``, ``pending`` (no answer yet), or ``withdrawn``
(cancelled after sending, when the victim withdrew). Time to removal runs from
a sending to the removal that follows it; a notice removed, found again and
removed again adds two times. The median is the middle value (the mean of the
two middle ones for an even count) and p90 the nearest-rank 90th percentile.
Only domains, counts and durations appear: no URL, case or person.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from empreinte.store import models as m
from empreinte.store.models.notices import Notice, NoticeStatus, Sighting, Transition
from empreinte.store.registry import utc

ACTIONS: Final = {
    NoticeStatus.REMOVED.value: "removed",
    NoticeStatus.REFUSED.value: "refused",
    NoticeStatus.CANCELLED.value: "withdrawn",
}


def yearly(
    session: Session,
    year: int,
    *,
    organisation_id: int | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Return the year's report, for one NGO or (``None``) for the whole instance."""
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    first_sent = (
        select(Transition.notice_id, func.min(Transition.at).label("at"))
        .where(Transition.to_status == NoticeStatus.SENT.value)
        .group_by(Transition.notice_id)
        .subquery()
    )
    query = (
        select(Notice.id, Notice.status, Notice.category, Notice.round, Sighting.host)
        .join(first_sent, first_sent.c.notice_id == Notice.id)
        .join(Sighting, Sighting.id == Notice.sighting_id)
        .where(first_sent.c.at >= start, first_sent.c.at < end)
    )
    if organisation_id is not None:
        query = query.where(Notice.organisation_id == organisation_id)
    notices = session.execute(query).all()
    hours = _removal_hours(session, [n.id for n in notices])
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for notice in notices:
        action = ACTIONS.get(notice.status, "pending")
        groups[(notice.host, notice.category, action)].append(notice.id)
    return {
        "year": year,
        "notifier": _notifier(session, organisation_id),
        "generated_at": utc(now or m.utcnow()).isoformat(timespec="seconds"),
        "rows": [
            {"host": host, "content_type": kind, "action": action, "notices": len(ids)}
            | _times(hours, ids)
            for (host, kind, action), ids in sorted(groups.items())
        ],
        "totals": _totals(notices, hours),
    }


def _notifier(session: Session, organisation_id: int | None) -> str | None:
    if organisation_id is None:
        return None
    org = session.get(m.Organisation, organisation_id)
    return org.name if org else None


def _removal_hours(session: Session, notice_ids: Sequence[str]) -> dict[str, list[float]]:
    """Return, per notice, the hours from each sending to the removal that ends it."""
    found: dict[str, list[float]] = defaultdict(list)
    started: dict[str, dt.datetime] = {}
    for chunk in range(0, len(notice_ids), 500):
        rows = session.execute(
            select(
                Transition.notice_id, Transition.from_status, Transition.to_status, Transition.at
            )
            .where(Transition.notice_id.in_(notice_ids[chunk : chunk + 500]))
            .order_by(Transition.notice_id, Transition.at, Transition.id)
        ).all()
        for notice_id, before, status, at in rows:
            at = utc(at)
            if status == NoticeStatus.SENT.value and before != status:
                started.setdefault(notice_id, at)
            elif status == NoticeStatus.REMOVED.value and notice_id in started:
                found[notice_id].append((at - started.pop(notice_id)).total_seconds() / 3600)
    return found


def _times(hours: dict[str, list[float]], ids: Iterable[str]) -> dict[str, float | None]:
    values = sorted(h for notice_id in ids for h in hours.get(notice_id, ()))
    if not values:
        return {"removals": 0, "median_hours_to_removal": None, "p90_hours_to_removal": None}
    return {
        "removals": len(values),
        "median_hours_to_removal": round(statistics.median(values), 2),
        "p90_hours_to_removal": round(values[math.ceil(0.9 * len(values)) - 1], 2),
    }


def _totals(notices: Sequence[Any], hours: dict[str, list[float]]) -> dict[str, Any]:
    counts = {action: 0 for action in ("removed", "refused", "pending", "withdrawn")}
    for notice in notices:
        counts[ACTIONS.get(notice.status, "pending")] += 1
    return {
        "notices": len(notices),
        **counts,
        "resends": sum(int(n.round) for n in notices),
        **_times(hours, [n.id for n in notices]),
    }


def render_markdown(report: dict[str, Any]) -> str:
    """Render a report as Markdown, the text that ``empreinte report`` prints."""
    totals = report["totals"]
    lines = [
        f"# Takedown notices in {report['year']} (DSA art. 22)",
        "",
        f"Notifier: {report['notifier'] or 'all notifiers of this instance'}. "
        f"Generated {report['generated_at']}.",
        "",
        "| host | content type | action | notices | removals | median h | p90 h |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['host']} | {row['content_type']} | {row['action']} | {row['notices']} "
            f"| {row['removals']} | {_h(row['median_hours_to_removal'])} "
            f"| {_h(row['p90_hours_to_removal'])} |"
        )
    lines += [
        "",
        f"Total: {totals['notices']} notices; {totals['removed']} removed, "
        f"{totals['refused']} refused, {totals['pending']} pending, "
        f"{totals['withdrawn']} withdrawn; {totals['resends']} re-sends; "
        f"time to removal median {_h(totals['median_hours_to_removal'])} h, "
        f"p90 {_h(totals['p90_hours_to_removal'])} h.",
    ]
    return "\n".join(lines) + "\n"


def _h(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
