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
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import CTE, Select, and_, case, func, or_, select
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
    chosen = _chosen(year, organisation_id).cte("chosen")
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for host, kind, status, notices, rounds in session.execute(
        select(
            chosen.c.host,
            chosen.c.category,
            chosen.c.status,
            func.count(),
            func.sum(chosen.c.round),
        ).group_by(chosen.c.host, chosen.c.category, chosen.c.status)
    ):
        counted = groups[(host, kind, ACTIONS.get(status, "pending"))]
        counted[0] += int(notices)
        counted[1] += int(rounds or 0)
    hours = _removal_hours(session, chosen)
    return {
        "year": year,
        "notifier": _notifier(session, organisation_id),
        "generated_at": utc(now or m.utcnow()).isoformat(timespec="seconds"),
        "rows": [
            {"host": host, "content_type": kind, "action": action, "notices": counted[0]}
            | _times(hours.get((host, kind, action), []))
            for (host, kind, action), counted in sorted(groups.items())
        ],
        "totals": _totals(groups, hours),
    }


def _chosen(year: int, organisation_id: int | None) -> Select[str, str, str, int, str]:
    """Select the notices first sent in ``year``, with what the report groups them by."""
    first_sent = (
        select(func.min(Transition.at))
        .where(Transition.notice_id == Notice.id, Transition.to_status == NoticeStatus.SENT.value)
        .scalar_subquery()
    )
    query = (
        select(Notice.id, Notice.status, Notice.category, Notice.round, Sighting.host)
        .join(Sighting, Sighting.id == Notice.sighting_id)
        .where(
            first_sent >= dt.datetime(year, 1, 1, tzinfo=dt.UTC),
            first_sent < dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC),
        )
    )
    if organisation_id is not None:
        query = query.where(Notice.organisation_id == organisation_id)
    return query


def _notifier(session: Session, organisation_id: int | None) -> str | None:
    if organisation_id is None:
        return None
    org = session.get(m.Organisation, organisation_id)
    return org.name if org else None


def _removal_hours(session: Session, chosen: CTE) -> dict[tuple[str, str, str], list[float]]:
    """Return, per group, the hours from each sending to the removal that ends it.

    A sending starts a clock that the next removal stops; counting the removals
    before each move numbers these spans, so a span's start is its first sending
    and its end the removal that closes it (window functions: no self-join).
    """
    sent, removed = NoticeStatus.SENT.value, NoticeStatus.REMOVED.value
    moves = (
        select(
            chosen.c.id,
            chosen.c.host,
            chosen.c.category,
            chosen.c.status,
            Transition.to_status,
            Transition.at,
            func.coalesce(
                func.sum(case((Transition.to_status == removed, 1), else_=0)).over(
                    partition_by=Transition.notice_id,
                    order_by=(Transition.at, Transition.id),
                    rows=(None, -1),
                ),
                0,
            ).label("span"),
        )
        .join(Transition, Transition.notice_id == chosen.c.id)
        .where(
            or_(
                Transition.to_status == removed,
                and_(
                    Transition.to_status == sent,
                    or_(Transition.from_status.is_(None), Transition.from_status != sent),
                ),
            ),
        )
        .cte("moves")
    )
    spans = select(
        moves.c.host,
        moves.c.category,
        moves.c.status,
        moves.c.to_status,
        moves.c.at,
        func.min(case((moves.c.to_status == sent, moves.c.at)))
        .over(partition_by=(moves.c.id, moves.c.span))
        .label("start"),
    ).subquery()
    seconds = _seconds(session, spans.c.start, spans.c.at)
    found: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for host, kind, status, took in session.execute(
        select(spans.c.host, spans.c.category, spans.c.status, seconds).where(
            spans.c.to_status == removed, spans.c.start.is_not(None)
        )
    ):
        found[(host, kind, ACTIONS.get(status, "pending"))].append(float(took) / 3600)
    return found


def _seconds(session: Session, start: Any, end: Any) -> Any:
    """Return the SQL expression of the seconds from ``start`` to ``end``."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return func.round((func.julianday(end) - func.julianday(start)) * 86400, 3)


def _times(hours: Iterable[float]) -> dict[str, float | None]:
    values = sorted(hours)
    if not values:
        return {"removals": 0, "median_hours_to_removal": None, "p90_hours_to_removal": None}
    return {
        "removals": len(values),
        "median_hours_to_removal": round(statistics.median(values), 2),
        "p90_hours_to_removal": round(values[math.ceil(0.9 * len(values)) - 1], 2),
    }


def _totals(
    groups: dict[tuple[str, str, str], list[int]], hours: dict[tuple[str, str, str], list[float]]
) -> dict[str, Any]:
    counts = {action: 0 for action in ("removed", "refused", "pending", "withdrawn")}
    for (_, _, action), counted in groups.items():
        counts[action] += counted[0]
    return {
        "notices": sum(counts.values()),
        **counts,
        "resends": sum(counted[1] for counted in groups.values()),
        **_times(h for spans in hours.values() for h in spans),
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
